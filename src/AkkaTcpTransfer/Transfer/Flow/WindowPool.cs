namespace AkkaTcpTransfer.Transfer.Flow;

/// <summary>What the transfers of one connection, in one direction, may have unacknowledged together. Every transfer
/// has <c>transfer.window</c> of its own (the floor, which the limits on concurrent transfers already account for);
/// a window beyond it draws the difference from this pool, which holds <c>transfer.max-window</c> less the floor. So
/// one transfer may reach max-window, several share that much, and the sum never passes
/// concurrent transfers × window + (max-window − window), however windows grow and shrink.</summary>
/// <remarks>Thread-safe: transfer actors on their own dispatchers resize their shares while the connection's owner
/// releases the shares of transfers that ended. A pool may draw on a parent too (the node's, for incoming transfers:
/// <see cref="NodeBudget"/>): a share then grows only by what both have free. Locks are taken child first.</remarks>
internal sealed class WindowPool
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Akka.Actor.ActorSystem, WindowPool> Budgets = new();

    private readonly object _lock = new();
    private readonly int _floor;
    private readonly WindowPool? _parent;
    private long _free;

    public WindowPool(int floor, long maxWindow, WindowPool? parent = null)
    {
        _floor = floor;
        _parent = parent;
        _free = Math.Max(0, maxWindow - floor);
    }

    /// <summary>The pool every connection's incoming transfers of this node draw on beyond their floors
    /// (<c>transfer.node-window-budget</c>): one per actor system.</summary>
    public static WindowPool NodeBudget(Akka.Actor.ActorSystem system, long bytes) => Budgets.GetValue(system, _ => new WindowPool(0, bytes));

    /// <summary>Up to <paramref name="wanted"/> bytes, as many as are free.</summary>
    private long Take(long wanted)
    {
        lock (_lock)
        {
            var taken = Math.Min(wanted, _free);
            _free -= taken;
            return taken;
        }
    }

    private void Give(long bytes)
    {
        lock (_lock) _free += bytes;
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

        /// <summary>Asks for a window of <paramref name="wanted"/> bytes; answers the window held now: less when the pool
        /// is short, never below the floor. Shrinking gives bytes back at once.</summary>
        public int Resize(int wanted)
        {
            lock (_pool._lock)
            {
                if (_released) return _pool._floor;
                var delta = Math.Max(0L, (long)wanted - _pool._floor) - _extra;
                if (delta > 0)
                {
                    delta = Math.Min(delta, _pool._free);
                    if (_pool._parent is { } parent) delta = parent.Take(delta);
                }
                else if (delta < 0) _pool._parent?.Give(-delta);
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
                _pool._parent?.Give(_extra);
                _extra = 0;
                _released = true;
            }
        }
    }
}
