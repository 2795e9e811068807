"""What runs viva without a real candidate or a real model: simulated candidates, the emulator as
the model's stand-in, the summary of simulated runs. The product never imports this package."""
