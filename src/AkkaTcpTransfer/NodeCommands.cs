namespace AkkaTcpTransfer;

/// <summary>What a program (the CLI, a UI, a test) tells a node, server or client alike: send these to
/// <c>ServerNode.Commands</c> or <c>ClientNode.Commands</c>. Results and failures come back as events on the
/// node's EventStream (AkkaTcpTransfer.Events).</summary>
public static class NodeCommands
{
    /// <summary>Chat to everyone.</summary>
    public sealed record Say(string Text);

    /// <summary>Chat to one peer by name (the server included, by its name), or to a room ("#name") this client is in.</summary>
    public sealed record SayTo(string To, string Text);

    /// <summary>A client's request the server answers (so it needs a connection); answered by events.</summary>
    public interface IServerRequest;

    /// <summary>Become a member of <paramref name="Room"/> ("#name"), made if it does not exist; answered with
    /// <see cref="Events.JoinedRoom"/> and the room's recent lines, or <see cref="Events.RoomRequestRefused"/>.</summary>
    public sealed record JoinRoom(string Room) : IServerRequest;

    /// <summary>Stop being a member of <paramref name="Room"/>; answered with <see cref="Events.LeftRoom"/>.</summary>
    public sealed record LeaveRoom(string Room) : IServerRequest;

    /// <summary>Answered with <see cref="Events.RoomsListed"/>.</summary>
    public sealed record ListRooms : IServerRequest
    {
        public static readonly ListRooms Instance = new();
        private ListRooms() { }
    }

    /// <summary>Answered with <see cref="Events.MembersListed"/>.</summary>
    public sealed record ListMembers(string Room) : IServerRequest;

    /// <summary>Set the topic of a room this client is in (empty: clear it); every member hears <see cref="Events.TopicChanged"/>.</summary>
    public sealed record SetTopic(string Room, string Topic) : IServerRequest;

    /// <summary>Up to <paramref name="Count"/> earlier lines of <paramref name="Target"/> ("#room", or null for the
    /// server-wide room), before the oldest this client has seen of it: each request pages further back. Answered with
    /// <see cref="Events.HistoryLine"/>s and a <see cref="Events.HistoryEnded"/>.</summary>
    public sealed record ShowHistory(string? Target, int Count) : IServerRequest;

    /// <summary>Ask the server to offer kept file <paramref name="FileId"/> (one shared with a room this client is in,
    /// or one kept for it): it comes as an offer (<see cref="Events.TransferOffered"/>), or an
    /// <see cref="Events.ErrorOccurred"/> says why not.</summary>
    public sealed record GetFile(string FileId) : IServerRequest;

    /// <summary>Release this client's registered name; answered with <see cref="Events.NameRegistration"/>.</summary>
    public sealed record Unregister : IServerRequest
    {
        public static readonly Unregister Instance = new();
        private Unregister() { }
    }

    /// <summary>A server's operator frees the registered name <paramref name="Name"/>, whoever holds it; answered with
    /// <see cref="Events.NameRegistration"/>. A client answers with <see cref="Events.ErrorOccurred"/>: only a server
    /// frees names.</summary>
    public sealed record FreeName(string Name);

    /// <summary>Ask who is online; answered with a <see cref="Events.WhoListed"/> event.</summary>
    public sealed record Who
    {
        public static readonly Who Instance = new();
        private Who() { }
    }

    /// <summary>Send a file or a whole folder. <paramref name="To"/>: a peer's name; null on a client means the server
    /// (a server must name a client). Each file becomes its own transfer with its own events.</summary>
    public sealed record SendFile(string? To, string Path);

    /// <summary>Cancel a transfer of this node (either end) by its id.</summary>
    public sealed record CancelTransfer(string Id);

    /// <summary>Accept an offer that waits for a decision (transfer.auto-accept = off).</summary>
    public sealed record AcceptTransfer(string Id);

    /// <summary>Refuse an offer that waits for a decision.</summary>
    public sealed record RejectTransfer(string Id);

    /// <summary>Answered with a <see cref="Events.TransfersListed"/> event.</summary>
    public sealed record ListTransfers
    {
        public static readonly ListTransfers Instance = new();
        private ListTransfers() { }
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

    /// <param name="Fingerprint">For <see cref="StartFailure.NotTrusted"/>: the key fingerprint the server presented.</param>
    public sealed record StartFailed(StartFailure Kind, string Reason, Security.TrustProblem? Trust = null, string? Fingerprint = null);

    /// <summary>Ask (from CoordinatedShutdown): say goodbye to every peer and close; answered with <see cref="Stopped"/>.</summary>
    public sealed record Stop(string Reason);

    public sealed record Stopped
    {
        public static readonly Stopped Instance = new();
        private Stopped() { }
    }

    /// <summary>Ask: answered with <see cref="OutgoingDrained"/> once no outgoing transfer is queued or running.</summary>
    public sealed record DrainOutgoing
    {
        public static readonly DrainOutgoing Instance = new();
        private DrainOutgoing() { }
    }

    /// <summary>Ask: answered with <see cref="OutgoingOpen"/>.</summary>
    public sealed record ListOutgoing
    {
        public static readonly ListOutgoing Instance = new();
        private ListOutgoing() { }
    }

    /// <summary>The outgoing transfers not over yet (being scanned, queued, offered, waiting for a decision, or
    /// moving), by file.</summary>
    public sealed record OutgoingOpen(IReadOnlyList<string> Files);

    /// <summary>Ask: answered with <see cref="ChatDrained"/> once every chat line of this node has been answered by the
    /// server (sent, or reported as not sent).</summary>
    public sealed record DrainChat
    {
        public static readonly DrainChat Instance = new();
        private DrainChat() { }
    }

    public sealed record ChatDrained
    {
        public static readonly ChatDrained Instance = new();
        private ChatDrained() { }
    }

    /// <summary>Ask: answered with <see cref="ChatOpen"/>.</summary>
    public sealed record ListChat
    {
        public static readonly ListChat Instance = new();
        private ListChat() { }
    }

    /// <summary>Chat lines of this node not yet answered by the server: queued, or sent and not yet confirmed.</summary>
    public sealed record ChatOpen(int Lines);

    /// <summary><paramref name="Sent"/> files were offered since the node started; <paramref name="Failed"/> of them
    /// were not delivered (failed, refused or cancelled).</summary>
    public sealed record OutgoingDrained(int Sent, int Failed);
}

public enum StartFailure
{
    CannotBind,
    CannotConnect,
    Refused,
    /// <summary>The server's TLS identity could not be read or made.</summary>
    NoIdentity,
    /// <summary>The client did not trust the server's identity (unknown, or not the pinned one).</summary>
    NotTrusted,
    /// <summary>A cluster node could not join its cluster (no seed answered in time), or the cluster refused it.</summary>
    ClusterJoin,
    /// <summary>A part the node cannot work without failed while it started (the reason names it).</summary>
    InternalFailure,
    /// <summary>The server's database cannot be used: damaged, another program's, newer, in use by another server, or
    /// unreachable (the reason names it).</summary>
    Store,
}
