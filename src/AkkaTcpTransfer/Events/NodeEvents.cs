namespace AkkaTcpTransfer.Events;

// The observable contract of a node: everything notable is published on the ActorSystem's EventStream as one of
// these immutable records. Subscribe to NodeEvent for all of them, or to one type. The command-line program's
// --json output is a direct rendering of them (event names in comments; see docs/EMBEDDING.md, "Events").

/// <summary>Base of every event this library publishes.</summary>
public abstract record NodeEvent;

/// <summary><c>listening</c>: the server is bound; <paramref name="Port"/> is the real port, also when 0 was asked for.
/// With TLS, <paramref name="Fingerprint"/> is what clients pin (SHA-256 of the server's public key) and
/// <paramref name="CertificateFile"/> the certificate to check it against; both null without TLS.</summary>
public sealed record Listening(string Host, int Port, string? Fingerprint = null, string? CertificateFile = null) : NodeEvent;

/// <summary><c>web-listening</c>: the server serves the browser client at <paramref name="Url"/> (its real port, also
/// when 0 was asked for); <paramref name="Tls"/>: over HTTPS with the server's certificate.</summary>
public sealed record WebListening(string Url, bool Tls) : NodeEvent;

/// <summary><c>connected</c>: the client completed the handshake with the server named <paramref name="Server"/>.
/// <paramref name="Fingerprint"/>: the server's key fingerprint (null without TLS); <paramref name="Trust"/>: why it was
/// trusted; <paramref name="Online"/>: who was online when it joined, the server first (itself included);
/// <paramref name="Registered"/>: the name is registered to this client (nobody else can take it meanwhile).</summary>
public sealed record Connected(string Server, string Name, string? Fingerprint = null, Security.TrustBasis? Trust = null,
    IReadOnlyList<string>? Online = null, bool Registered = false) : NodeEvent;

/// <summary><c>server-pinned</c>: the client pinned a server's key in <paramref name="File"/> (known_servers): on first
/// use, or because it was given with --fingerprint. Later connections to <paramref name="Server"/> require this key.</summary>
public sealed record ServerPinned(string Server, string Fingerprint, string File) : NodeEvent;

/// <summary><c>disconnected</c>: the client lost its connection. <paramref name="WillReconnect"/> says whether it
/// is trying again.</summary>
public sealed record Disconnected(string Reason, bool WillReconnect) : NodeEvent;

/// <summary><c>peer-joined</c>: someone came online (published on the server and on every other client).</summary>
public sealed record PeerJoined(string Name) : NodeEvent;

/// <summary><c>peer-left</c>: someone went offline.</summary>
public sealed record PeerLeft(string Name) : NodeEvent;

/// <summary><c>who</c>: the answer to a Who command: everyone online, the server first.</summary>
public sealed record WhoListed(IReadOnlyList<string> Names) : NodeEvent;

/// <summary><c>chat</c>: a message this node received. <paramref name="To"/> is null for a message to everyone (the
/// server-wide room), "#name" for a line in a room, else the recipient's name (this node's). <paramref name="At"/> is the
/// server's time stamp.</summary>
public sealed record ChatReceived(string From, string? To, string Text, DateTimeOffset At) : NodeEvent;

/// <summary><c>chat-sent</c>: a chat line of this node left it and the server passed it on (<paramref name="To"/> null: to
/// everyone), so that its own lines appear among the others'. <paramref name="Line"/> is the node's number for the line
/// (counting from 1 since it started); <paramref name="At"/> is the server's time stamp, the one recipients see. A line
/// is reported exactly once: here, or in a <see cref="ChatNotSent"/>. The server stored it before saying so.
/// <paramref name="Held"/>: its recipient is offline and gets it on its next connection.</summary>
public sealed record ChatSent(long Line, string? To, string Text, DateTimeOffset At, bool Held = false) : NodeEvent;

/// <summary><c>chat-not-sent</c>: a chat line of this node was not passed on (invalid, refused by the server, queued when
/// the connection was lost or the node stopped), or its fate is unknown (sent, but the server did not confirm it before
/// the connection was lost): <paramref name="Reason"/> says which.</summary>
public sealed record ChatNotSent(long Line, string? To, string Text, string Reason) : NodeEvent;

/// <summary><c>chat-queue</c>: how many of this node's chat lines wait to leave at the pace the server allows (a paste
/// of many lines), published when the number changes (at most a few times a second while lines drain, and always when
/// it reaches 0).</summary>
public sealed record ChatQueue(int Waiting) : NodeEvent;

/// <summary><c>cluster-member</c>: a server node of this node's cluster changed state. <paramref name="Status"/> is
/// <c>up</c> (it serves clients as part of the cluster), <c>unreachable</c> (it stopped answering), <c>reachable</c>
/// (it answers again) or <c>removed</c> (it left, or was removed after staying unreachable: its clients' names are free).
/// <paramref name="Node"/> is its cluster address, host:port; <paramref name="Self"/> is true for this node.</summary>
public sealed record ClusterMemberChanged(string Node, string Status, bool Self) : NodeEvent;

/// <summary><c>error</c>: something this node tried failed, or a peer told it so; the node carries on.</summary>
public sealed record ErrorOccurred(string Message) : NodeEvent;

/// <summary><c>error</c>, and the end of a client: the server refused the handshake (bad token, name taken...).
/// A refused client does not reconnect.</summary>
public sealed record ConnectionRefused(string Reason) : NodeEvent;

// ---- rooms, history, names (a client's) ----

/// <summary><c>room-joined</c>: this client is a member of <paramref name="Room"/> (as the room spells it), which has
/// <paramref name="Members"/> members. <paramref name="Rejoined"/>: not new, it reconnected. Its recent lines follow as
/// <see cref="HistoryLine"/>s, then <see cref="HistoryEnded"/>.</summary>
public sealed record JoinedRoom(string Room, string Topic, int Members, bool Rejoined) : NodeEvent;

/// <summary><c>room-left</c>: this client is no longer a member of <paramref name="Room"/>; <paramref name="Reason"/>
/// says why (it asked, or the room closed while it was away).</summary>
public sealed record LeftRoom(string Room, string Reason) : NodeEvent;

/// <summary><c>room-refused</c>: a request about <paramref name="Room"/> (join, leave, topic, members, history) was
/// refused; nothing changed.</summary>
public sealed record RoomRequestRefused(string Room, string Reason) : NodeEvent;

/// <summary>One room of <see cref="RoomsListed"/>.</summary>
public sealed record RoomSummary(string Room, int Members, string Topic);

/// <summary><c>rooms</c>: the answer to ListRooms.</summary>
public sealed record RoomsListed(IReadOnlyList<RoomSummary> Rooms) : NodeEvent;

/// <summary>One member of <see cref="MembersListed"/>.</summary>
public sealed record MemberSummary(string Name, bool Online);

/// <summary><c>members</c>: the answer to ListMembers.</summary>
public sealed record MembersListed(string Room, IReadOnlyList<MemberSummary> Members) : NodeEvent;

/// <summary><c>topic</c>: <paramref name="By"/> set the topic of <paramref name="Room"/> (empty: cleared).</summary>
public sealed record TopicChanged(string Room, string By, string Topic, DateTimeOffset At) : NodeEvent;

/// <summary><c>member-joined</c>: <paramref name="Name"/> became a member of a room this client is in.</summary>
public sealed record MemberJoinedRoom(string Room, string Name) : NodeEvent;

/// <summary><c>member-left</c>: <paramref name="Name"/> is no longer a member of a room this client is in.</summary>
public sealed record MemberLeftRoom(string Room, string Name) : NodeEvent;

/// <summary><c>history</c>: a line said earlier, to show as history: the recent lines of a room on joining or
/// reconnecting, a direct message kept while this client was away (<paramref name="To"/> its own name), or a page asked
/// for with ShowHistory. <paramref name="To"/> as in <see cref="ChatReceived"/>.</summary>
public sealed record HistoryLine(string From, string? To, string Text, DateTimeOffset At) : NodeEvent;

/// <summary><c>history-end</c>: the history lines of <paramref name="Target"/> just published are complete;
/// <paramref name="More"/>: older ones are kept (ShowHistory pages further back).</summary>
public sealed record HistoryEnded(string? Target, bool More) : NodeEvent;

/// <summary><c>name</c>: whether this client's name is registered to it now, and why (the answer to Unregister).</summary>
public sealed record NameRegistration(string Name, bool Registered, string Reason) : NodeEvent;

// ---- file transfer ----

/// <summary>Which end of a transfer this node is.</summary>
public enum TransferDirection
{
    Send,
    Receive,
}

/// <summary><c>transfer-offered</c> (receiver): a peer offers a file. <paramref name="Id"/> is the transfer's id at
/// both ends (8 hex digits), the one <c>/cancel</c> takes.</summary>
public sealed record TransferOffered(string Id, string File, long Size, string From, string To) : NodeEvent;

/// <summary><c>transfer-waiting</c> (sender): the offer went out; the transfer waits for <paramref name="To"/> to accept
/// (at once if it accepts automatically).</summary>
public sealed record TransferWaiting(string Id, string File, long Size, string To) : NodeEvent;

/// <summary><c>transfer-started</c>: bytes begin to move. <paramref name="Offset"/> is where a resumed transfer
/// starts, else 0.</summary>
public sealed record TransferStarted(string Id, string File, long Size, string From, string To, TransferDirection Direction, long Offset) : NodeEvent;

/// <summary><c>transfer-progress</c>: <paramref name="Bytes"/> of <paramref name="Total"/> are on the receiver's
/// disk; <paramref name="Rate"/> in bytes per second, <paramref name="Eta"/> in seconds (null while unknown).
/// Throttled; the last one of a completed transfer says Bytes == Total.</summary>
public sealed record TransferProgress(string Id, string File, long Bytes, long Total, double Rate, double? Eta) : NodeEvent;

/// <summary><c>transfer-completed</c>: size and SHA-256 verified by the receiver, the file is in place.
/// <paramref name="Path"/>: on the receiver, where the file landed (absolute, perhaps renamed to avoid a clash);
/// on the sender, the file that was sent. <paramref name="Sha256"/> is lower-case hex. For a folder sent as one transfer
/// (<paramref name="File"/> "album/"): <paramref name="Path"/> is the folder, <paramref name="Size"/> the stream's length,
/// <paramref name="Sha256"/> the folder digest (docs/PROTOCOL.md, "Folders"), <paramref name="Files"/> how many files it
/// carried (1 for a file).</summary>
public sealed record TransferCompleted(string Id, string File, string Path, long Size, string Sha256, double Seconds, int Files = 1) : NodeEvent;

/// <summary><c>transfer-held</c> (sender): the server holds the verified upload of transfer <paramref name="Id"/> as
/// <paramref name="FileId"/>, and offers it to <paramref name="Recipients"/> people (sent to several, or to someone
/// offline): this node's part is done, and it may quit. Each recipient's progress follows as <see cref="DeliveryChanged"/>.</summary>
public sealed record TransferHeld(string Id, string FileId, int Recipients) : NodeEvent;

/// <summary>Where a file the server keeps stands for one recipient (<see cref="DeliveryChanged"/>).</summary>
public enum DeliveryStatus
{
    /// <summary><c>waiting</c>: the recipient is offline (or was busy); offered when they are back.</summary>
    Waiting,
    /// <summary><c>offered</c>: waiting for the recipient's accept.</summary>
    Offered,
    /// <summary><c>receiving</c>: bytes are moving to the recipient.</summary>
    Receiving,
    /// <summary><c>delivered</c>: verified on the recipient's disk.</summary>
    Delivered,
    /// <summary><c>rejected</c>: the recipient declined or cancelled.</summary>
    Rejected,
    /// <summary><c>failed</c>: it could not be delivered (the reason says why).</summary>
    Failed,
    /// <summary><c>expired</c>: not delivered before the server stopped keeping it.</summary>
    Expired,
}

/// <summary><c>delivery</c> (sender): file <paramref name="FileId"/> (<see cref="TransferHeld"/>) for
/// <paramref name="To"/> is now <paramref name="State"/>, <paramref name="Bytes"/> of <paramref name="Size"/> there.
/// Also sent on connecting for files kept earlier, so that what ended while this node was away is told.</summary>
public sealed record DeliveryChanged(string FileId, string File, string To, DeliveryStatus State, long Bytes, long Size, string Reason) : NodeEvent;

/// <summary><c>transfer-failed</c>: the transfer is over without delivering the file.</summary>
public sealed record TransferFailed(string Id, string File, string Reason) : NodeEvent;

/// <summary><c>transfer-cancelled</c>: a person cancelled; <paramref name="By"/> is the name of the node where it was cancelled.</summary>
public sealed record TransferCancelled(string Id, string File, string By) : NodeEvent;

/// <summary>Where a transfer of <see cref="TransfersListed"/> stands; <c>--json</c> writes it as the word in brackets.</summary>
public enum TransferState
{
    /// <summary><c>queued</c>: an outgoing file waits its turn (at most transfer.max-concurrent-sends are offered at once).</summary>
    Queued,

    /// <summary><c>offered</c>: the offer is out and waits for an answer, or an incoming offer waits for a decision.</summary>
    Offered,

    /// <summary><c>sending</c>: bytes of an outgoing file move.</summary>
    Sending,

    /// <summary><c>receiving</c>: bytes of an incoming file move.</summary>
    Receiving,
}

/// <summary>One line of <see cref="TransfersListed"/>.</summary>
public sealed record TransferSummary(string Id, string File, TransferDirection Direction, string Peer, long Bytes, long Total, TransferState State);

/// <summary><c>transfers</c>: the answer to a ListTransfers command: every transfer of this node not yet over.</summary>
public sealed record TransfersListed(IReadOnlyList<TransferSummary> Transfers) : NodeEvent;

/// <summary>One line of <see cref="PartialsListed"/>: a partial file kept so that <paramref name="From"/> can resume
/// sending <paramref name="File"/>; <paramref name="Expires"/> is when it is removed if nobody resumes it.</summary>
public sealed record PartialSummary(string File, string From, long Bytes, long Total, DateTimeOffset Expires, bool InUse);

/// <summary><c>partials</c>: with the answer to a ListTransfers command, the partial files this node keeps for a resume.</summary>
public sealed record PartialsListed(IReadOnlyList<PartialSummary> Partials) : NodeEvent;
