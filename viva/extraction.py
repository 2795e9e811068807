"""Reading an exam result out of the examiner's transcript with a text Gemini model.

When the Live model says the result aloud instead of calling its tool, viva asks a text
model to write the tool's arguments from what the examiner said, constrained to the
tool's JSON schema (`responseJsonSchema` takes the whole JSON schema, keywords a Live
function declaration drops included). Nothing is validated here: the caller checks
the answer against the schema (viva/schema.py) and falls back to its
own parser when it is missing or wrong.
"""

from __future__ import annotations

import asyncio
import json

from google import genai
from google.genai import types
from loguru import logger

from viva.config import ToolSpec

PROMPT = """\
Below is the transcript of what an examiner said aloud during a spoken exam. Only the
examiner's words are given; the candidate's answers are not included.

Near the end the examiner may have stated the result of the exam aloud instead of
recording it with the function `{name}` ({description}). Write the arguments of that
function as one JSON object that follows the given schema, using only values the
examiner actually stated (numbers said in words are numbers: "six point five" is 6.5).
Do not guess or invent values. If the examiner did not state a result, answer {{}}.

Function parameters (JSON schema):
{schema}

Examiner transcript:
<<<
{transcript}
>>>
"""


def extraction_prompt(transcript: str, tool: ToolSpec) -> str:
    """The request text: what to extract, from whose words, and the transcript."""
    return PROMPT.format(
        name=tool.name,
        description=tool.description.strip().rstrip("."),
        schema=json.dumps(tool.parameters, indent=2),
        transcript=transcript.strip(),
    )


async def extract_with_model(
    *, transcript: str, tool: ToolSpec, client: genai.Client, model: str, timeout_s: float = 30.0
) -> dict | None:
    """The tool's arguments as a text model reads them in the examiner's transcript.

    Args:
        transcript: what the examiner said (its output transcription), nothing else.
        tool: the tool whose arguments were said aloud.
        client: a google-genai client (for the emulator: EmulatorServer.http_options()).
        model: a text model, e.g. "gemini-2.5-flash".
        timeout_s: how long to wait for the answer.

    Returns:
        The JSON object the model wrote (not validated), or None when the call fails, the
        answer is not JSON, not an object, or empty (the model found nothing).
    """
    config = types.GenerateContentConfig(
        response_mime_type="application/json",
        response_json_schema=tool.parameters,
        temperature=0,
    )
    try:
        response = await asyncio.wait_for(
            client.aio.models.generate_content(
                model=model, contents=extraction_prompt(transcript, tool), config=config
            ),
            timeout_s,
        )
        value = json.loads(response.text or "")
    except Exception as e:  # any failure means no extracted result; the caller falls back
        logger.warning(f"extraction of {tool.name} with {model} failed: {type(e).__name__}: {e}")
        return None
    if not isinstance(value, dict) or not value:
        logger.warning(f"extraction of {tool.name} with {model} found no result: {response.text!r:.200}")
        return None
    return value
