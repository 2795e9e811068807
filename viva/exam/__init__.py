"""The exam: its plan (steps as a graph), the controller every exam decision goes through,
what the model is told (wording) and the one phrase matcher. Plain Python: the processors
in viva/processors/ are thin adapters around it."""
