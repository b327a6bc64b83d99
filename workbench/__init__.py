"""Workbench: review a Linux disk image and prepare it for Alibaba Cloud ECS import."""

__version__ = "0.1.0"
