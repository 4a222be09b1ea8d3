namespace AkkaTcpTransfer;

/// <summary>What a program (the CLI, a UI, a test) tells a node, server or client alike: send these to
/// <c>ServerNode.Commands</c> or <c>ClientNode.Commands</c>. Results and failures come back as events on the
/// node's EventStream (AkkaTcpTransfer.Events).</summary>
public static class NodeCommands
{
    /// <summary>Chat to everyone.</summary>
    public sealed record Say(string Text);

    /// <summary>Chat to one peer by name (the server included, by its name).</summary>
    public sealed record SayTo(string To, string Text);

    /// <summary>Ask who is online; answered with a <see cref="Events.WhoListed"/> event.</summary>
    public sealed record Who
    {
        public static readonly Who Instance = new();
        private Who() { }
    }
}

/// <summary>Messages between the hosting API (<see cref="Hosting.ServerNode"/>, <see cref="Hosting.ClientNode"/>)
/// and a node's root actor.</summary>
internal static class NodeLifecycle
{
    /// <summary>Ask: answered once the node is up (<see cref="Ready"/>) or could not start (<see cref="StartFailed"/>).</summary>
    public sealed record AwaitReady
    {
        public static readonly AwaitReady Instance = new();
        private AwaitReady() { }
    }

    public sealed record Ready(string Host, int Port, string Name, string Server);

    public sealed record StartFailed(StartFailure Kind, string Reason);

    /// <summary>Ask (from CoordinatedShutdown): say goodbye to every peer and close; answered with <see cref="Stopped"/>.</summary>
    public sealed record Stop(string Reason);

    public sealed record Stopped
    {
        public static readonly Stopped Instance = new();
        private Stopped() { }
    }
}

public enum StartFailure
{
    CannotBind,
    CannotConnect,
    Refused,
}
