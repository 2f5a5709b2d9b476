"""Training: a run prepared (checks, device, data, seed), the run loop every kind of run goes
through, the single run and the sweep, the written-out step and its replayed chunks, the CPU
threads and the machine's figures, resume, and a learner's own model file."""
