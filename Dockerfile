# viva's examiner bot on Pipecat Cloud (README: "Deploy on Pipecat Cloud").
# The base image serves the start requests and calls bot(runner_args) from /app/bot.py.
FROM dailyco/pipecat-base:latest-py3.11

# PyAudio (Pipecat's local audio, a locked dependency) builds from source against PortAudio.
RUN apt-get update && apt-get install -y --no-install-recommends build-essential portaudio19-dev \
    && rm -rf /var/lib/apt/lists/*

ENV UV_COMPILE_BYTECODE=1
# The cache is a mounted volume: copy from it rather than link.
ENV UV_LINK_MODE=copy

# The lock's versions, without the project itself and without the dev tools.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-install-project --no-dev

# The product only: the emulator and the simulation harness stay out of the image.
COPY viva ./viva
COPY configs ./configs
COPY bot.py ./bot.py

# Records are written here as the session goes; the outbox holds undelivered results.
ENV VIVA_OUT=/app/sessions VIVA_OUTBOX=/app/outbox VIVA_CONFIG_DIR=/app/configs
