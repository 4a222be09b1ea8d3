using Akka.Actor;
using Akka.Event;

namespace AkkaTcpTransfer.Tests.Support;

/// <summary>Watches one node's actor system for what a correct run never produces: ERROR log events, unhandled
/// messages, and dead letters of our own message types (a message to an actor that is gone usually means a lifecycle
/// bug). <see cref="TestNodes"/> fails a test that saw any, unless the test said it expects errors.</summary>
public sealed class SystemHealth
{
    private readonly object _gate = new();
    private readonly List<string> _problems = [];
    private volatile bool _closed;

    public string Name { get; }

    public SystemHealth(string name) => Name = name;

    public void Attach(ActorSystem system)
    {
        var watcher = system.ActorOf(Props.Create(() => new Watcher(this)), "test-health");
        system.EventStream.Subscribe(watcher, typeof(Error));
        system.EventStream.Subscribe(watcher, typeof(UnhandledMessage));
        system.EventStream.Subscribe(watcher, typeof(DeadLetter));
    }

    /// <summary>From now on nothing is recorded: the node is being stopped, and late messages are expected then.</summary>
    public void Close() => _closed = true;

    public IReadOnlyList<string> Problems
    {
        get { lock (_gate) return [.. _problems]; }
    }

    private void Record(string problem)
    {
        if (_closed) return;
        lock (_gate) _problems.Add(problem);
    }

    private static bool Ours(object message) => message.GetType().FullName?.StartsWith("AkkaTcpTransfer.", StringComparison.Ordinal) == true;

    private sealed class Watcher : ReceiveActor
    {
        public Watcher(SystemHealth health)
        {
            Receive<Error>(e => health.Record($"ERROR from {e.LogSource}: {e.Message}{(e.Cause is null ? "" : $" ({e.Cause.GetType().Name}: {e.Cause.Message})")}"));
            // Unhandled messages of ours, or at any of our actors (Akka.IO's own listener drops an accept completion
            // after an unbind as unhandled: that is Akka's, not ours).
            Receive<UnhandledMessage>(u =>
            {
                if (Ours(u.Message) || u.Recipient.Path.Elements is [ "user", .. ])
                    health.Record($"unhandled {u.Message.GetType().Name} at {u.Recipient.Path}: {u.Message}");
            });
            Receive<DeadLetter>(d =>
            {
                if (Ours(d.Message)) health.Record($"dead letter {d.Message.GetType().Name} to {d.Recipient.Path}: {d.Message}");
            });
        }
    }
}
