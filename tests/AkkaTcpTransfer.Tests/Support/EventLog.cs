using Akka.Actor;
using AkkaTcpTransfer.Events;

namespace AkkaTcpTransfer.Tests.Support;

/// <summary>Records every <see cref="NodeEvent"/> of one actor system and lets a test await the first (or next)
/// event that matches, with a timeout. Nothing here sleeps: waiters complete when the event is published.</summary>
public sealed class EventLog : IDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    private readonly object _gate = new();
    private readonly List<NodeEvent> _events = [];
    private readonly List<(Func<NodeEvent, bool> Match, int From, TaskCompletionSource<NodeEvent> Done)> _waiters = [];
    private IDisposable? _subscription;

    public string Name { get; }

    public EventLog(string name) => Name = name;

    /// <summary>Use as the <c>beforeStart</c> callback of a node so that no event is missed.</summary>
    public void Attach(ActorSystem system) => _subscription = system.Subscribe<NodeEvent>(Record);

    private void Record(NodeEvent e)
    {
        lock (_gate)
        {
            _events.Add(e);
            var index = _events.Count - 1;
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                var w = _waiters[i];
                if (index >= w.From && w.Match(e))
                {
                    _waiters.RemoveAt(i);
                    w.Done.TrySetResult(e);
                }
            }
        }
    }

    public IReadOnlyList<NodeEvent> Snapshot()
    {
        lock (_gate) return [.. _events];
    }

    public IEnumerable<T> All<T>() where T : NodeEvent => Snapshot().OfType<T>();

    /// <summary>A position to wait from: <c>WaitFor(..., after: log.Mark())</c> ignores events recorded before.</summary>
    public int Mark()
    {
        lock (_gate) return _events.Count;
    }

    /// <summary>The first event at or after <paramref name="after"/> of type <typeparamref name="T"/> matching
    /// <paramref name="match"/>; fails the test with the events seen so far if none comes in time.</summary>
    public async Task<T> WaitFor<T>(Func<T, bool>? match = null, int after = 0, TimeSpan? timeout = null) where T : NodeEvent
    {
        bool Matches(NodeEvent e) => e is T t && (match?.Invoke(t) ?? true);
        TaskCompletionSource<NodeEvent> done;
        lock (_gate)
        {
            for (var i = after; i < _events.Count; i++)
            {
                if (Matches(_events[i])) return (T)_events[i];
            }
            done = new TaskCompletionSource<NodeEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((Matches, after, done));
        }
        var limit = timeout ?? DefaultTimeout;
        var winner = await Task.WhenAny(done.Task, Task.Delay(limit));
        if (winner != done.Task)
        {
            lock (_gate) _waiters.RemoveAll(w => w.Done == done);
            throw new TimeoutException($"[{Name}] no {typeof(T).Name} matching within {limit.TotalSeconds} s; seen: " +
                string.Join(" | ", Snapshot().Skip(after).Select(e => e.ToString())));
        }
        return (T)await done.Task;
    }

    /// <summary>The first <paramref name="count"/> events of type <typeparamref name="T"/> matching <paramref name="match"/>,
    /// in order, once that many have been recorded; fails the test if they do not come in time.</summary>
    public async Task<IReadOnlyList<T>> WaitForCount<T>(int count, Func<T, bool>? match = null, TimeSpan? timeout = null) where T : NodeEvent
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (true)
        {
            var mark = Mark();
            var found = Snapshot().Take(mark).OfType<T>().Where(e => match?.Invoke(e) ?? true).ToList();
            if (found.Count >= count) return found.Take(count).ToList();
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new TimeoutException($"[{Name}] {found.Count} of {count} {typeof(T).Name} events in time");
            await WaitFor(match, after: mark, timeout: left);
        }
    }

    public void Dispose() => _subscription?.Dispose();
}
