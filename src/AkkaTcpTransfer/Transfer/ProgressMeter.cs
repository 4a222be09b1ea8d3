namespace AkkaTcpTransfer.Transfer;

/// <summary>Throttles progress reports and estimates rate and time left. Pure: the caller passes the clock.</summary>
/// <remarks>The rate is measured over a sliding window of recent samples (about three seconds), so it follows a
/// changing link without jumping at every sample, and is right from the first report of a short transfer.</remarks>
internal sealed class ProgressMeter
{
    private static readonly TimeSpan RateWindow = TimeSpan.FromSeconds(3);

    private readonly long _total;
    private readonly TimeSpan _interval;
    private readonly Queue<(TimeSpan At, long Bytes)> _samples = new();
    private TimeSpan _lastReport = TimeSpan.MinValue;

    public ProgressMeter(long total, long startBytes, TimeSpan interval, TimeSpan now)
    {
        _total = total;
        _interval = interval;
        _samples.Enqueue((now, startBytes));
    }

    /// <summary>True when a report is due at <paramref name="now"/> (at most one per interval).</summary>
    public bool Due(TimeSpan now) => _lastReport == TimeSpan.MinValue || now - _lastReport >= _interval;

    /// <summary>Takes a sample and returns (rate in bytes/s, seconds left or null while unknown).</summary>
    public (double Rate, double? Eta) Report(long bytes, TimeSpan now)
    {
        _samples.Enqueue((now, bytes));
        // Keep the oldest sample that is still inside the window, plus everything after it.
        while (_samples.Count > 2 && now - _samples.ElementAt(1).At >= RateWindow) _samples.Dequeue();
        var (at, from) = _samples.Peek();
        var seconds = (now - at).TotalSeconds;
        var rate = seconds > 0 ? Math.Max(0, bytes - from) / seconds : 0;
        _lastReport = now;
        var left = _total - bytes;
        double? eta = left <= 0 ? 0 : rate > 0 ? left / rate : null;
        return (rate, eta);
    }
}
