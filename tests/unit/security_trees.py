"""In-memory guest trees for the security checks' unit tests (pure: no appliance)."""

from workbench import crypt
from workbench.checks import Context
from workbench.image.osinfo import detect
from workbench.image.preflight import ImageFacts
from workbench.image.session import GuestReport
from workbench.image.tree import GuestTree

FACTS = ImageFacts(path="/nonexistent/test.qcow2", format="qcow2", virtual_size=8 << 30)


def context(files: dict, links: dict | None = None, **options) -> Context:
    """options: Context fields (advisories, progress, cancel)."""
    tree = GuestTree.from_dict(files, links)
    report = GuestReport(os=detect(tree), tree=tree, root_device="/dev/sda1")
    return Context(FACTS, report, **options)


def passwd(*rows: str) -> str:
    return "\n".join(rows) + "\n"


SHA_123456 = crypt.sha512_crypt("123456", "unitSalt")
SHA_STRONG = crypt.sha512_crypt("k3#Vq9!zPw2r-unique", "unitSalt2")
