namespace AkkaTcpTransfer.Protocol;

/// <summary>One decoded frame. Every subtype is immutable and maps one to one onto a <see cref="FrameType"/>;
/// docs/PROTOCOL.md lists their fields byte by byte.</summary>
public abstract record Frame
{
    public abstract FrameType Type { get; }
}

/// <summary>Client to server, first frame on a connection.</summary>
/// <param name="ResumeKey">Empty on a first connection; on a reconnect, the key the server handed out in
/// <see cref="Welcome"/>, which lets the client take its name back from a connection the server still
/// believes is alive.</param>
public sealed record Hello(ushort Version, int MaxFrameLength, string Name, string Token, byte[] ResumeKey) : Frame
{
    public override FrameType Type => FrameType.Hello;
}

/// <summary>Server to client: the handshake succeeded. <paramref name="Limits"/> are the rates the server allows this
/// client: a client that keeps within them is never slowed down or refused. <paramref name="Registered"/>: the name is
/// registered to this client's identity (its resume key): nobody else may use it, or a name that looks like it.</summary>
public sealed record Welcome(ushort Version, int MaxFrameLength, string ServerName, string YourName, byte[] ResumeKey, bool Registered,
    ClientLimits Limits, IReadOnlyList<string> Peers) : Frame
{
    public override FrameType Type => FrameType.Welcome;
}

/// <summary>The rates a server allows one client, per second, with the burst each allows after a quiet spell (token
/// buckets that start full). Announced in <see cref="Welcome"/>.</summary>
public sealed record ClientLimits(int ChatPerSecond, int ChatBurst, int WhoPerSecond, int WhoBurst, int OffersPerSecond, int OffersBurst,
    int RoomsPerSecond, int RoomsBurst, int HistoryPerSecond, int HistoryBurst);

/// <summary>Server to client: the handshake failed; the server closes the connection after sending it.</summary>
public sealed record Refused(WireCode Code, string Reason) : Frame
{
    public override FrameType Type => FrameType.Refused;
}

/// <summary>Either direction: keeps an idle connection observably alive.</summary>
public sealed record Ping : Frame
{
    public static readonly Ping Instance = new();
    private Ping() { }
    public override FrameType Type => FrameType.Ping;
}

/// <summary>Either direction: the sender is closing the connection, and says why.</summary>
public sealed record Goodbye(WireCode Code, string Reason) : Frame
{
    public override FrameType Type => FrameType.Goodbye;
}

/// <summary>Server to client: a request failed; the connection stays open.</summary>
public sealed record Error(WireCode Code, string Message) : Frame
{
    public override FrameType Type => FrameType.Error;
}

/// <summary>Client to server: chat to everyone (<paramref name="To"/> empty: the server-wide room), to a room ("#name")
/// or to one named peer. <paramref name="Id"/> is the client's own number for the line: the server answers every Say,
/// in order, with a <see cref="SayAck"/> or a <see cref="SayRefused"/> carrying it.</summary>
public sealed record Say(uint Id, string To, string Text) : Frame
{
    public override FrameType Type => FrameType.Say;
}

/// <summary>Server to client: the line <paramref name="Id"/> was stored and passed on to its recipients, stamped
/// <paramref name="AtUnixMs"/> (the time they see). <paramref name="Held"/>: its recipient is offline; the server keeps
/// it and delivers it when the recipient next connects.</summary>
public sealed record SayAck(uint Id, long AtUnixMs, bool Held) : Frame
{
    public override FrameType Type => FrameType.SayAck;
}

/// <summary>Server to client: the line <paramref name="Id"/> was not passed on, and why.</summary>
public sealed record SayRefused(uint Id, WireCode Code, string Reason) : Frame
{
    public override FrameType Type => FrameType.SayRefused;
}

/// <summary>Server to client: a chat message, stamped by the server with its authenticated sender and time.</summary>
/// <param name="To">Empty for the server-wide room, "#name" for a room, else the recipient's name.</param>
public sealed record Chat(string From, string To, long AtUnixMs, string Text) : Frame
{
    public override FrameType Type => FrameType.Chat;
}

public sealed record PeerJoined(string Name) : Frame
{
    public override FrameType Type => FrameType.PeerJoined;
}

public sealed record PeerLeft(string Name) : Frame
{
    public override FrameType Type => FrameType.PeerLeft;
}

public sealed record WhoRequest : Frame
{
    public static readonly WhoRequest Instance = new();
    private WhoRequest() { }
    public override FrameType Type => FrameType.WhoRequest;
}

public sealed record WhoReply(IReadOnlyList<string> Names) : Frame
{
    public override FrameType Type => FrameType.WhoReply;
}

/// <summary>Client to server: become a member of a room ("#name"), which is created if it does not exist. Answered by
/// <see cref="RoomJoined"/> then the room's recent lines (<see cref="History"/>, <see cref="HistoryEnd"/>), or by
/// <see cref="RoomRefused"/>. Membership lasts across connections until <see cref="LeaveRoom"/>.</summary>
public sealed record JoinRoom(string Room) : Frame
{
    public override FrameType Type => FrameType.JoinRoom;
}

/// <summary>Client to server: stop being a member of a room. Answered by <see cref="RoomLeft"/> or <see cref="RoomRefused"/>.</summary>
public sealed record LeaveRoom(string Room) : Frame
{
    public override FrameType Type => FrameType.LeaveRoom;
}

/// <summary>Client to server: which rooms exist? Answered by <see cref="RoomList"/>.</summary>
public sealed record RoomsRequest : Frame
{
    public static readonly RoomsRequest Instance = new();
    private RoomsRequest() { }
    public override FrameType Type => FrameType.RoomsRequest;
}

/// <summary>Client to server: who are a room's members? Answered by <see cref="MemberList"/> or <see cref="RoomRefused"/>.</summary>
public sealed record MembersRequest(string Room) : Frame
{
    public override FrameType Type => FrameType.MembersRequest;
}

/// <summary>Client to server: set a room's topic (a member only; empty clears it). Every member online hears
/// <see cref="RoomTopic"/>; a refusal is a <see cref="RoomRefused"/>.</summary>
public sealed record SetTopic(string Room, string Topic) : Frame
{
    public override FrameType Type => FrameType.SetTopic;
}

/// <summary>Server to client: the client is a member of <paramref name="Room"/> (the name as the room spells it), which
/// has <paramref name="Members"/> members and this topic. <paramref name="Rejoined"/>: not a new membership, the client
/// reconnected. The room's recent lines follow.</summary>
public sealed record RoomJoined(string Room, string Topic, int Members, bool Rejoined) : Frame
{
    public override FrameType Type => FrameType.RoomJoined;
}

/// <summary>Server to client: the client is no longer a member of <paramref name="Room"/>: it asked
/// (<see cref="WireCode.Normal"/>), or not (the reason says why).</summary>
public sealed record RoomLeft(string Room, WireCode Code, string Reason) : Frame
{
    public override FrameType Type => FrameType.RoomLeft;
}

/// <summary>One room in a <see cref="RoomList"/>.</summary>
public sealed record RoomInfo(string Room, int Members, string Topic);

/// <summary>Server to client: the rooms of the server (as many as fit a frame), by name.</summary>
public sealed record RoomList(IReadOnlyList<RoomInfo> Rooms) : Frame
{
    public override FrameType Type => FrameType.RoomList;
}

/// <summary>One member in a <see cref="MemberList"/>.</summary>
public sealed record MemberInfo(string Name, bool Online);

/// <summary>Server to client: the members of a room (as many as fit a frame), by name.</summary>
public sealed record MemberList(string Room, IReadOnlyList<MemberInfo> Members) : Frame
{
    public override FrameType Type => FrameType.MemberList;
}

/// <summary>Server to client: the topic of <paramref name="Room"/> was set by <paramref name="By"/> at
/// <paramref name="AtUnixMs"/> (empty: cleared).</summary>
public sealed record RoomTopic(string Room, string By, long AtUnixMs, string Topic) : Frame
{
    public override FrameType Type => FrameType.RoomTopic;
}

/// <summary>Server to client: <paramref name="Name"/> became a member of a room the client is in.</summary>
public sealed record MemberJoined(string Room, string Name) : Frame
{
    public override FrameType Type => FrameType.MemberJoined;
}

/// <summary>Server to client: <paramref name="Name"/> is no longer a member of a room the client is in.</summary>
public sealed record MemberLeft(string Room, string Name) : Frame
{
    public override FrameType Type => FrameType.MemberLeft;
}

/// <summary>Server to client: a request about <paramref name="Room"/> (join, leave, topic, members, history) was refused;
/// nothing changed.</summary>
public sealed record RoomRefused(string Room, WireCode Code, string Reason) : Frame
{
    public override FrameType Type => FrameType.RoomRefused;
}

/// <summary>Client to server: lines of <paramref name="Target"/> ("#room", or empty for the server-wide room) from
/// before <paramref name="Before"/> (a <see cref="History"/> sequence number; 0: the newest), at most
/// <paramref name="Count"/> of them. Answered by <see cref="History"/> frames, oldest first, and one
/// <see cref="HistoryEnd"/>, or by <see cref="RoomRefused"/>.</summary>
public sealed record HistoryRequest(string Target, long Before, int Count) : Frame
{
    public override FrameType Type => FrameType.HistoryRequest;
}

/// <summary>Server to client: a line said earlier, to show as history. <paramref name="To"/> as in <see cref="Chat"/>
/// (empty: the server-wide room; "#name": a room; the client's own name: a direct message kept while it was away);
/// <paramref name="Seq"/> is its place in that conversation, for paging further back.</summary>
public sealed record History(string From, string To, long AtUnixMs, long Seq, string Text) : Frame
{
    public override FrameType Type => FrameType.History;
}

/// <summary>Server to client: the history lines of <paramref name="Target"/> just sent are complete. For a page further
/// back, ask with Before = <paramref name="Oldest"/>; <paramref name="More"/> is false when nothing older is kept.</summary>
public sealed record HistoryEnd(string Target, long Oldest, bool More) : Frame
{
    public override FrameType Type => FrameType.HistoryEnd;
}

/// <summary>Client to server: release this client's registered name (it stays in use until the client leaves; then
/// anyone may take it). Answered by <see cref="NameStatus"/>.</summary>
public sealed record Unregister : Frame
{
    public static readonly Unregister Instance = new();
    private Unregister() { }
    public override FrameType Type => FrameType.Unregister;
}

/// <summary>Server to client: whether <paramref name="Name"/> is registered to this client now, and why.</summary>
public sealed record NameStatus(string Name, bool Registered, string Reason) : Frame
{
    public override FrameType Type => FrameType.NameStatus;
}

/// <summary>Server to client, right after the <see cref="Verified"/> of an upload the server keeps for its recipients
/// (several, or someone offline): the server holds the file as <paramref name="FileId"/> and will offer it to
/// <paramref name="Recipients"/> people; each one's progress comes as <see cref="Delivery"/>.</summary>
public sealed record Held(uint Id, string FileId, int Recipients) : Frame
{
    public override FrameType Type => FrameType.Held;
}

/// <summary>What happened to a kept file (<see cref="Held"/>) for one recipient.</summary>
public enum DeliveryState : byte
{
    /// <summary>Kept for a recipient who is offline: offered when they connect.</summary>
    Waiting = 1,
    Offered = 2,
    Receiving = 3,
    Delivered = 4,
    Rejected = 5,
    Failed = 6,
    Expired = 7,
}

/// <summary>Server to the client that uploaded a kept file: where it stands for recipient <paramref name="To"/>.
/// Final states (delivered, rejected, failed, expired) are also sent on every later connection while the server keeps
/// the record.</summary>
public sealed record Delivery(string FileId, string File, string To, DeliveryState State, long Bytes, long Size, string Reason) : Frame
{
    public override FrameType Type => FrameType.Delivery;

    public bool IsFinal => State is DeliveryState.Delivered or DeliveryState.Rejected or DeliveryState.Failed or DeliveryState.Expired;
}

/// <summary>Client to server: offer me kept file <paramref name="FileId"/> (one shared with a room I am in, or one
/// kept for me): answered by an <see cref="Offer"/> from the server, or an <see cref="Error"/> code 21.</summary>
public sealed record GetFile(string FileId) : Frame
{
    public override FrameType Type => FrameType.GetFile;
}

/// <summary>Frames that belong to one file transfer, routed by <see cref="Id"/>.</summary>
public abstract record TransferFrame(uint Id) : Frame;

/// <summary>Sender to receiver: "may I send you this file?". <paramref name="File"/> is a relative path with '/'
/// separators; the receiver alone decides where bytes land.</summary>
/// <param name="SenderId">Empty from a client; the server stamps the sender's identity (16 bytes, a digest of the
/// sender's resume key, or of the server's own key for its offers), so that a receiver ties a partial file to a person
/// rather than to a name someone else may take later.</param>
/// <param name="Fingerprint">The sender's last-write time of the file (UTC ticks), so a resend of an unchanged file
/// can resume and a changed file starts over.</param>
public sealed record Offer(uint Id, string From, byte[] SenderId, string To, string File, long Size, long Fingerprint) : TransferFrame(Id)
{
    public override FrameType Type => FrameType.Offer;
}

/// <summary>Receiver to sender: accepted. <paramref name="Offset"/> &gt; 0 proposes a resume; the sender checks
/// <paramref name="PrefixSha256"/> (the SHA-256 of the receiver's first Offset bytes) against its own file.</summary>
/// <param name="MaxChunk">Largest chunk data length the receiver (and any relay) accepts.</param>
/// <param name="Window">Bytes the sender may have sent beyond the receiver's last Ack.</param>
public sealed record Accept(uint Id, long Offset, byte[] PrefixSha256, int MaxChunk, int Window) : TransferFrame(Id)
{
    public override FrameType Type => FrameType.Accept;
}

public sealed record Reject(uint Id, string Reason) : TransferFrame(Id)
{
    public override FrameType Type => FrameType.Reject;
}

/// <summary>Sender to receiver: chunks start at <paramref name="Offset"/>: the accepted offset when the prefix
/// matched, 0 when it did not (the receiver then starts its file over).</summary>
/// <param name="Window">The most the sender will ever have unacknowledged (at most the one granted); it may run less and
/// grow toward it. The receiver acknowledges at least every min(Window / 4, <see cref="ProtocolLimits.MaxAckInterval"/>)
/// bytes.</param>
public sealed record Start(uint Id, long Offset, int Window) : TransferFrame(Id)
{
    public override FrameType Type => FrameType.Start;
}

/// <summary>Sender to receiver: file bytes at <paramref name="Offset"/>. Chunks arrive in order without gaps.</summary>
public sealed record Chunk(uint Id, long Offset, ReadOnlyMemory<byte> Data) : TransferFrame(Id)
{
    public override FrameType Type => FrameType.Chunk;

    /// <summary>True when <see cref="Data"/> lives in an array rented from <see cref="System.Buffers.ArrayPool{T}.Shared"/>
    /// (a decoder built with pooled chunks): whoever is last to need the bytes calls <see cref="Release"/>. A chunk that
    /// is dropped instead is simply left to the garbage collector.</summary>
    public bool Pooled { get; init; }

    /// <summary>Returns a pooled chunk's array; the chunk must not be used afterwards. Does nothing for others.</summary>
    public void Release()
    {
        if (Pooled && System.Runtime.InteropServices.MemoryMarshal.TryGetArray(Data, out var segment))
            System.Buffers.ArrayPool<byte>.Shared.Return(segment.Array!);
    }
}

/// <summary>Receiver to sender: the first <paramref name="Written"/> bytes are on the receiver's disk.</summary>
public sealed record Ack(uint Id, long Written) : TransferFrame(Id)
{
    public override FrameType Type => FrameType.Ack;
}

/// <summary>Sender to receiver: no more chunks; the whole file has this size and SHA-256.</summary>
public sealed record Done(uint Id, long Size, byte[] Sha256) : TransferFrame(Id)
{
    public override FrameType Type => FrameType.Done;
}

/// <summary>Receiver to sender: size and SHA-256 matched and the file is in place. Only now is it delivered.</summary>
public sealed record Verified(uint Id, byte[] Sha256) : TransferFrame(Id)
{
    public override FrameType Type => FrameType.Verified;
}

/// <summary>Either direction: a person cancelled the transfer.</summary>
public sealed record Cancel(uint Id, string By, string Reason) : TransferFrame(Id)
{
    public override FrameType Type => FrameType.Cancel;
}

/// <summary>Client to server, just before the <see cref="Offer"/> of the same id to several people, a room or someone
/// offline: the file's SHA-256. A server that keeps that content already asks for a proof (<see cref="Prove"/>)
/// instead of the bytes.</summary>
public sealed record Claim(uint Id, byte[] Sha256) : TransferFrame(Id)
{
    public override FrameType Type => FrameType.Claim;
}

/// <summary>Server to client: show you hold the content you claimed: the SHA-256 of <paramref name="Nonce"/> followed
/// by the file's <paramref name="Length"/> bytes at <paramref name="Offset"/> (<see cref="Proof"/>).</summary>
public sealed record Prove(uint Id, long Offset, int Length, byte[] Nonce) : TransferFrame(Id)
{
    public override FrameType Type => FrameType.Prove;
}

/// <summary>Client to server: the answer to <see cref="Prove"/>.</summary>
public sealed record Proof(uint Id, byte[] Sha256) : TransferFrame(Id)
{
    public override FrameType Type => FrameType.Proof;
}

/// <summary>Either direction: the transfer failed and is over.</summary>
public sealed record Fail(uint Id, string Reason) : TransferFrame(Id)
{
    public override FrameType Type => FrameType.Fail;
}

/// <summary>Server node to server node, the first frame on a node link: the link's <paramref name="Version"/> and the
/// cluster's <paramref name="TokenKey"/> (a digest of its token, 32 bytes), checked before anything else is read.</summary>
public sealed record LinkHello(ushort Version, byte[] TokenKey) : Frame
{
    public override FrameType Type => FrameType.LinkHello;
}

/// <summary>Server node to server node, on a node link: deliver <paramref name="Payload"/> (a message written by the
/// cluster's serializer, named by <paramref name="Manifest"/>) to the actor at path <paramref name="Target"/>, as if sent
/// by the actor at <paramref name="Sender"/> (empty: nobody).</summary>
public sealed record LinkMessage(string Manifest, string Target, string Sender, ReadOnlyMemory<byte> Payload) : Frame
{
    public override FrameType Type => FrameType.LinkMessage;

    /// <summary>True when <see cref="Payload"/> lives in an array rented from <see cref="System.Buffers.ArrayPool{T}.Shared"/>
    /// (a decoder built with pooled chunks): the receiver hands it back with <see cref="Release"/> once it is read, or
    /// passes it on to the relayed chunk it carries.</summary>
    public bool Pooled { get; init; }

    /// <summary>Returns a pooled payload's array; the message must not be used afterwards. Does nothing for others.</summary>
    public void Release()
    {
        if (Pooled && System.Runtime.InteropServices.MemoryMarshal.TryGetArray(Payload, out var segment))
            System.Buffers.ArrayPool<byte>.Shared.Return(segment.Array!);
    }
}
