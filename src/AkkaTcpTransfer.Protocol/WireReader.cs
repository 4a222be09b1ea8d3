using System.Buffers.Binary;
using System.Text;

namespace AkkaTcpTransfer.Protocol;

/// <summary>Reads one frame's payload fields, big-endian, with every read bounds-checked against the payload.</summary>
internal ref struct WireReader
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly ReadOnlySpan<byte> _payload;
    private readonly FrameType _type;
    private int _position;

    public WireReader(ReadOnlySpan<byte> payload, FrameType type)
    {
        _payload = payload;
        _type = type;
        _position = 0;
    }

    public readonly int Position => _position;
    public readonly int Remaining => _payload.Length - _position;

    private ReadOnlySpan<byte> Take(int count, string field)
    {
        if (count < 0 || count > Remaining)
            throw new MalformedFrameException(_type, $"truncated at {field}: needs {count} bytes, {Remaining} left");
        var span = _payload.Slice(_position, count);
        _position += count;
        return span;
    }

    public byte U8(string field) => Take(1, field)[0];
    /// <summary>A byte that is 0 (false) or 1 (true); anything else is malformed.</summary>
    public bool Flag(string field)
    {
        var value = U8(field);
        return value switch
        {
            0 => false,
            1 => true,
            _ => throw new MalformedFrameException(_type, $"{field} must be 0 or 1, got {value}"),
        };
    }

    public ushort U16(string field) => BinaryPrimitives.ReadUInt16BigEndian(Take(2, field));
    public uint U32(string field) => BinaryPrimitives.ReadUInt32BigEndian(Take(4, field));

    /// <summary>An unsigned 32-bit value that must fit a non-negative int (frame lengths, chunk sizes, counts).</summary>
    public int U31(string field)
    {
        var v = U32(field);
        if (v > int.MaxValue) throw new MalformedFrameException(_type, $"{field} {v} is out of range");
        return (int)v;
    }

    /// <summary>A signed 64-bit value that must not be negative (sizes, offsets).</summary>
    public long I64NonNegative(string field)
    {
        var v = BinaryPrimitives.ReadInt64BigEndian(Take(8, field));
        if (v < 0) throw new MalformedFrameException(_type, $"{field} {v} is negative");
        return v;
    }

    public long I64(string field) => BinaryPrimitives.ReadInt64BigEndian(Take(8, field));

    public string Str(string field)
    {
        var length = U16(field);
        var bytes = Take(length, field);
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new InvalidUtf8Exception(_type);
        }
    }

    public byte[] Bytes(int count, string field) => Take(count, field).ToArray();

    /// <summary>A byte string with a one-byte length.</summary>
    public byte[] Bin8(string field, int maxLength)
    {
        var length = U8(field);
        if (length > maxLength) throw new MalformedFrameException(_type, $"{field} is {length} bytes, at most {maxLength} allowed");
        return Take(length, field).ToArray();
    }

    public readonly void End()
    {
        if (Remaining != 0) throw new MalformedFrameException(_type, $"{Remaining} unexpected trailing bytes");
    }
}
