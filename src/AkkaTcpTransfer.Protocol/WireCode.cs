namespace AkkaTcpTransfer.Protocol;

/// <summary>Why a handshake was refused, a connection is being closed, or a request failed. Carried by the
/// Refused, Goodbye and Error frames; one code space for all three (docs/PROTOCOL.md).</summary>
public enum WireCode : ushort
{
    /// <summary>Nothing went wrong: the peer is leaving on purpose.</summary>
    Normal = 0,
    UnsupportedVersion = 1,
    BadToken = 2,
    NameTaken = 3,
    InvalidName = 4,
    ServerFull = 5,
    HandshakeTimeout = 6,
    ProtocolViolation = 7,
    ServerShutdown = 8,
    IdleTimeout = 9,
    /// <summary>The peer read too slowly: our bounded send queue for it overflowed.</summary>
    SlowConsumer = 10,
    /// <summary>The same client reconnected (with its resume key) and this older connection was replaced.</summary>
    Replaced = 11,
    UnknownPeer = 12,
    MessageTooLong = 13,
    InvalidMessage = 14,
    /// <summary>The peer sent requests faster than its rate limit: an Error for one refused request; a Goodbye when the
    /// excess persists.</summary>
    RateLimited = 15,
    /// <summary>One end speaks TLS and the other does not (sent in the clear, in a Refused frame, before any TLS).</summary>
    EncryptionMismatch = 16,
    /// <summary>A part of the server the request needed (another node, say) did not answer in time: the request may or
    /// may not have taken effect.</summary>
    Unavailable = 17,
    /// <summary>The request needs membership of a room the client is not in (a line to it, its history, its topic).</summary>
    NotMember = 18,
    /// <summary>A limit of the server was reached: rooms per client or per server, members per room, messages kept for an
    /// offline recipient. The reason names it; nothing was changed.</summary>
    LimitReached = 19,
    /// <summary>The server could not store it (its database is full, locked or read-only): nothing was stored or passed
    /// on. Unlike <see cref="Unavailable"/>, certainly not.</summary>
    NotStored = 20,
    /// <summary>A kept file asked for (<c>GetFile</c>) is not kept (any more), or not for this client.</summary>
    NoSuchFile = 21,
}
