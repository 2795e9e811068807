"""Where a real candidate is: a Daily room, a browser (WebRTC), or the local sound card."""
