namespace AkkaTcpTransfer.Protocol;

/// <summary>Fixed facts of the wire format. Configurable limits (the maximum frame length) live in settings and
/// are passed in; these are the bounds every implementation shares.</summary>
public static class ProtocolLimits
{
    /// <summary>The protocol version this build speaks.</summary>
    public const ushort Version = 5;

    /// <summary>"ATTP": the first four payload bytes of Hello, so a stray client speaking something else is
    /// recognised at its first frame.</summary>
    public static ReadOnlySpan<byte> Magic => "ATTP"u8;

    /// <summary>Bytes of the length prefix (unsigned 32-bit, big-endian).</summary>
    public const int LengthPrefixSize = 4;

    /// <summary>Length prefix plus type byte.</summary>
    public const int FrameHeaderSize = LengthPrefixSize + 1;

    /// <summary>The smallest frame length (the type byte alone).</summary>
    public const int MinFrameLength = 1;

    /// <summary>No configuration may raise the frame limit above this (16 MiB).</summary>
    public const int AbsoluteMaxFrameLength = 16 * 1024 * 1024;

    /// <summary>Bytes a Chunk frame spends before its data: type, id (4) and offset (8). A chunk of N data bytes
    /// has frame length N + ChunkOverhead.</summary>
    public const int ChunkOverhead = 1 + 4 + 8;

    /// <summary>How the reason of a <c>Reject</c> begins when an Offer came faster than the server's offer rate: the
    /// file was not refused, only that offer; a sender offers it again after a pause.</summary>
    public const string OfferRateLimitedReason = "too many offers at once";

    /// <summary>How the reason of every <c>Reject</c> begins that refused only an offer's timing, never the file (too
    /// many offers, too many incoming transfers, too many relayed transfers at once): a sender offers the file again
    /// later.</summary>
    public const string TryLaterPrefix = "too many ";

    /// <summary>Length of a SHA-256 digest.</summary>
    public const int Sha256Length = 32;

    /// <summary>A receiver acknowledges at least every min(window / 4, this) bytes written: a sender may then use any
    /// window up to the one it declared in Start, growing it as it measures the path.</summary>
    public const int MaxAckInterval = 128 * 1024;

    /// <summary>Longest string field in bytes (strings carry an unsigned 16-bit length).</summary>
    public const int MaxStringBytes = ushort.MaxValue;

    /// <summary>Longest resume key in bytes.</summary>
    public const int MaxResumeKeyLength = 64;

    /// <summary>Shortest non-empty resume key a server accepts (a key is a bearer secret: it must not be guessable).</summary>
    public const int MinResumeKeyLength = 16;

    /// <summary>Length of <see cref="Offer.SenderId"/> when the server stamps it.</summary>
    public const int SenderIdLength = 16;

    /// <summary>Longest free-text field (reasons, error messages) an encoder writes: longer text is cut, ending in "…".</summary>
    public const int MaxReasonBytes = 1024;

    /// <summary>Longest file name (a relative path) an Offer may carry, in UTF-8 bytes: the usual PATH_MAX. Longer
    /// offers are rejected before they travel further.</summary>
    public const int MaxFileNameBytes = 4096;
}
