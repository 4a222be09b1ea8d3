namespace AkkaTcpTransfer.Transfer;

/// <summary>Throttles progress reports and estimates rate and time left. Pure: the caller passes the clock.</summary>
/// <remarks>Rate is an exponentially weighted average of the rate between reports (half-life about two seconds), so
/// it follows a changing link without jumping at every sample.</remarks>
public sealed class ProgressMeter
{
    private readonly long _total;
    private readonly TimeSpan _interval;
    private TimeSpan _lastReport = TimeSpan.MinValue;
    private TimeSpan _lastSample;
    private long _lastSampleBytes;
    private double _rate;

    public ProgressMeter(long total, long startBytes, TimeSpan interval, TimeSpan now)
    {
        _total = total;
        _interval = interval;
        _lastSample = now;
        _lastSampleBytes = startBytes;
    }

    public double Rate => _rate;

    /// <summary>True when a report is due at <paramref name="now"/> (at most one per interval).</summary>
    public bool Due(TimeSpan now) => _lastReport == TimeSpan.MinValue || now - _lastReport >= _interval;

    /// <summary>Takes a sample and returns (rate in bytes/s, seconds left or null while unknown).</summary>
    public (double Rate, double? Eta) Report(long bytes, TimeSpan now)
    {
        var elapsed = (now - _lastSample).TotalSeconds;
        if (elapsed > 0 && bytes >= _lastSampleBytes)
        {
            var sample = (bytes - _lastSampleBytes) / elapsed;
            var weight = 1 - Math.Pow(0.5, elapsed / 2.0);
            _rate = _rate == 0 ? sample : _rate + (weight * (sample - _rate));
            _lastSample = now;
            _lastSampleBytes = bytes;
        }
        _lastReport = now;
        var left = _total - bytes;
        double? eta = left <= 0 ? 0 : _rate > 0 ? left / _rate : null;
        return (_rate, eta);
    }
}
