namespace AkkaTcpTransfer.Limits;

/// <summary>A token bucket: <see cref="Rate"/> tokens per second refill it up to <see cref="Burst"/>. Pure and not
/// thread-safe: one actor owns each bucket and passes the time in (a <see cref="TimeSpan"/> from a monotonic clock),
/// so tests control time exactly.</summary>
internal sealed class TokenBucket
{
    private double _tokens;
    private TimeSpan _updated;

    public TokenBucket(double rate, double burst, TimeSpan now)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rate);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(burst);
        Rate = rate;
        Burst = burst;
        _tokens = burst;
        _updated = now;
    }

    public double Rate { get; }
    public double Burst { get; }

    /// <summary>Tokens available at <paramref name="now"/> (negative while in debt).</summary>
    public double Available(TimeSpan now)
    {
        Refill(now);
        return _tokens;
    }

    /// <summary>Takes <paramref name="cost"/> tokens if that many are there; false (and nothing taken) if not.</summary>
    public bool TryTake(TimeSpan now, double cost = 1)
    {
        Refill(now);
        if (_tokens < cost) return false;
        _tokens -= cost;
        return true;
    }

    /// <summary>Takes <paramref name="cost"/> tokens whether or not they are there: the bucket may go into debt, and
    /// <see cref="WaitFor"/> says how long until it is out of it. For costs known only afterwards (frames already read).</summary>
    public void Charge(TimeSpan now, double cost)
    {
        Refill(now);
        _tokens -= cost;
    }

    /// <summary>How long until at least <paramref name="cost"/> tokens are available (zero if they are now).</summary>
    public TimeSpan WaitFor(TimeSpan now, double cost = 1)
    {
        Refill(now);
        if (_tokens >= cost) return TimeSpan.Zero;
        return TimeSpan.FromSeconds((cost - _tokens) / Rate);
    }

    private void Refill(TimeSpan now)
    {
        if (now <= _updated) return;
        _tokens = Math.Min(Burst, _tokens + ((now - _updated).TotalSeconds * Rate));
        _updated = now;
    }
}
