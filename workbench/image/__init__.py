"""Everything about the image file: host-side preflight, the guest session, pulled files."""
