using Akka.Actor;
using AkkaTcpTransfer.Events;

namespace AkkaTcpTransfer.Presentation;

/// <summary>Subscribes to a node's events and writes each as one line (human-readable or JSON) to a writer, in
/// publication order. Being one actor, its lines never interleave.</summary>
public sealed class ConsoleActor : ReceiveActor
{
    /// <summary>Ask: answered with <see cref="Flushed"/> once every event received before it has been written.</summary>
    public sealed record Flush
    {
        public static readonly Flush Instance = new();
        private Flush() { }
    }

    public sealed record Flushed
    {
        public static readonly Flushed Instance = new();
        private Flushed() { }
    }

    public static Props Props(TextWriter output, bool json, string prefix) =>
        Akka.Actor.Props.Create(() => new ConsoleActor(output, json, prefix));

    public ConsoleActor(TextWriter output, bool json, string prefix)
    {
        Receive<NodeEvent>(e =>
        {
            var line = json ? JsonEventFormatter.Format(e) : HumanEventFormatter.Format(e, DateTimeOffset.Now);
            if (line is null) return;
            output.WriteLine(prefix + line);
            output.Flush();
        });
        Receive<Flush>(_ => Sender.Tell(Flushed.Instance));
    }

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);
}
