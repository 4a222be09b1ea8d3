namespace AkkaTcpTransfer.Transfer;

/// <summary>What the transfers of one connection, in one direction, may have unacknowledged together. Every transfer
/// has <c>transfer.window</c> of its own (the floor, which the limits on concurrent transfers already account for);
/// a window beyond it draws the difference from this pool, which holds <c>transfer.max-window</c> less the floor. So
/// one transfer may reach max-window, several share that much, and the sum never passes
/// concurrent transfers × window + (max-window − window), however windows grow and shrink.</summary>
/// <remarks>Thread-safe: transfer actors on the file-io dispatcher resize their shares while the connection's owner
/// releases the shares of transfers that ended.</remarks>
internal sealed class WindowPool
{
    private readonly object _lock = new();
    private readonly int _floor;
    private long _free;

    public WindowPool(int floor, int maxWindow)
    {
        _floor = floor;
        _free = Math.Max(0, (long)maxWindow - floor);
    }

    /// <summary>Bytes beyond the floors not held by any share.</summary>
    public long Free
    {
        get { lock (_lock) return _free; }
    }

    public Share NewShare() => new(this);

    /// <summary>One transfer's window: the floor plus what it holds of the pool.</summary>
    internal sealed class Share
    {
        private readonly WindowPool _pool;
        private long _extra;
        private bool _released;

        public Share(WindowPool pool) => _pool = pool;

        public int Window
        {
            get { lock (_pool._lock) return (int)(_pool._floor + _extra); }
        }

        /// <summary>Asks for a window of <paramref name="wanted"/> bytes; answers the window held now: less when the pool
        /// is short, never below the floor. Shrinking gives bytes back at once.</summary>
        public int Resize(int wanted)
        {
            lock (_pool._lock)
            {
                if (_released) return _pool._floor;
                var delta = Math.Max(0L, (long)wanted - _pool._floor) - _extra;
                if (delta > 0) delta = Math.Min(delta, _pool._free);
                _pool._free -= delta;
                _extra += delta;
                return (int)(_pool._floor + _extra);
            }
        }

        /// <summary>The transfer is over: its part of the pool goes back, once.</summary>
        public void Release()
        {
            lock (_pool._lock)
            {
                if (_released) return;
                _pool._free += _extra;
                _extra = 0;
                _released = true;
            }
        }
    }
}
