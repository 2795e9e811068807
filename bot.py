"""Pipecat Cloud's base image imports `bot` from bot.py in /app: viva's is viva/bot.py."""

from viva.bot import bot

__all__ = ["bot"]
