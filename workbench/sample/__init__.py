"""The sample image `make run` opens and the image builder the tests share (no root, no loop devices)."""
