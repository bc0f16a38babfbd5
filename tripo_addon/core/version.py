"""The add-on's version (the manifest's), for the gateway's user agent."""

VERSION = "0.1.0"
