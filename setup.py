"""One import namespace, metamon.*, while the repository keeps the top-level folders the design fixes:
each folder is mapped into the namespace (metamon itself is a PEP 420 namespace, shared with the SDK)."""

from setuptools import find_packages, setup

FOLDERS = ("agents", "exporter", "monitoring")

setup(
    package_dir={f"metamon.{folder}": folder for folder in FOLDERS},
    packages=[f"metamon.{package}" for package in find_packages(include=[f"{f}*" for f in FOLDERS])],
)
