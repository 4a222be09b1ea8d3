namespace AkkaTcpTransfer.Protocol;

/// <summary>The peer broke the wire format. The connection that produced it cannot be trusted any further and is
/// closed; each subtype names one precise kind of violation.</summary>
public abstract class ProtocolException : Exception
{
    protected ProtocolException(string message) : base(message) { }
}

/// <summary>A length prefix above the configured maximum (checked before anything is allocated).</summary>
public sealed class FrameTooLargeException(long length, int maxFrameLength)
    : ProtocolException($"frame length {length} exceeds the maximum of {maxFrameLength} bytes")
{
    public long Length { get; } = length;
    public int MaxFrameLength { get; } = maxFrameLength;
}

/// <summary>A length prefix of zero: every frame has at least its type byte.</summary>
public sealed class EmptyFrameException() : ProtocolException("frame length 0: a frame holds at least its type byte");

/// <summary>A type byte this protocol version does not define.</summary>
public sealed class UnknownFrameTypeException(byte type)
    : ProtocolException($"unknown frame type 0x{type:x2}")
{
    public byte FrameType { get; } = type;
}

/// <summary>A frame whose fields do not fit its length (truncated or with trailing bytes) or hold impossible values.</summary>
public sealed class MalformedFrameException(FrameType type, string detail)
    : ProtocolException($"malformed {type} frame: {detail}")
{
    public FrameType FrameType { get; } = type;
}

/// <summary>A string field that is not valid UTF-8.</summary>
public sealed class InvalidUtf8Exception(FrameType type)
    : ProtocolException($"{type} frame carries a string that is not valid UTF-8")
{
    public FrameType FrameType { get; } = type;
}
