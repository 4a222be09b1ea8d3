using Akka.Actor;
using AkkaTcpTransfer.Events;

namespace AkkaTcpTransfer.Cli;

/// <summary>Which outgoing transfers are not over yet (offered, waiting, or moving), by file, so that leaving early can
/// say what was left unfinished.</summary>
internal sealed class OutgoingTracker
{
    private readonly object _gate = new();
    private readonly Dictionary<string, string> _open = [];

    public IReadOnlyList<string> Unfinished
    {
        get
        {
            lock (_gate) return [.. _open.Values.Order(StringComparer.Ordinal)];
        }
    }

    public IDisposable Track(ActorSystem system) => new Subscriptions(
    [
        system.Subscribe<TransferWaiting>(w => Open(w.Id, w.File)),
        system.Subscribe<TransferStarted>(s =>
        {
            if (s.Direction == TransferDirection.Send) Open(s.Id, s.File);
        }),
        system.Subscribe<TransferCompleted>(c => Close(c.Id)),
        system.Subscribe<TransferFailed>(f => Close(f.Id)),
        system.Subscribe<TransferCancelled>(c => Close(c.Id)),
    ]);

    private void Open(string id, string file)
    {
        lock (_gate) _open[id] = file;
    }

    private void Close(string id)
    {
        lock (_gate) _open.Remove(id);
    }

    private sealed class Subscriptions(IReadOnlyList<IDisposable> all) : IDisposable
    {
        public void Dispose()
        {
            foreach (var s in all) s.Dispose();
        }
    }
}
