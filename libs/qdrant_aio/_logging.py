"""The package logger (lazy %-style arguments; never given secrets)."""

import logging

logger = logging.getLogger("qdrant_aio")
