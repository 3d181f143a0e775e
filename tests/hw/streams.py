"""Stream testbench parts shared by the block tests (Amaranth simulator, async testbenches)."""


async def offer(ctx, port, tokens, rng, gap: float):
    """Offer each of ``tokens`` (payload values) on the stream ``port``, waiting for ``ready``;
    before each, idle cycles while ``rng.random() < gap``."""
    for token in tokens:
        while rng.random() < gap:
            ctx.set(port.valid, 0)
            await ctx.tick()
        ctx.set(port.payload, token)
        ctx.set(port.valid, 1)
        await ctx.tick().until(port.ready)
    ctx.set(port.valid, 0)


async def collect_events(ctx, port, out, *, timesteps, rng, delay: float, budget=None):
    """Take address events from ``port`` (``addr``, ``eot``) into ``out[s, t, addr] = 1``, not
    ready in a cycle with probability ``delay``, until ``len(out)`` samples of ``timesteps``
    end-of-timestep tokens have passed; fails naming the sample and step after ``budget``
    cycles (if given)."""
    s = t = cycle = 0
    async for _, _, valid, ready, payload in ctx.tick().sample(
        port.valid, port.ready, port.payload
    ):
        cycle += 1
        assert budget is None or cycle < budget, (
            f"sample {s}, timestep {t}: not done after {cycle} cycles"
        )
        ctx.set(port.ready, 0 if rng.random() < delay else 1)
        if valid and ready:
            if payload.eot:
                t += 1
                if t == timesteps:
                    s, t = s + 1, 0
                    if s == len(out):
                        return
            else:
                out[s, t, payload.addr] = 1
