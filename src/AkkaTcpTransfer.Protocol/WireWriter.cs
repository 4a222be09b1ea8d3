using System.Buffers.Binary;
using System.Text;

namespace AkkaTcpTransfer.Protocol;

/// <summary>Writes frame fields big-endian into a growable buffer; <see cref="ToFrame"/> prefixes length and type.</summary>
internal sealed class WireWriter
{
    private byte[] _buffer;
    private int _length;

    public WireWriter(int capacity = 64)
    {
        _buffer = new byte[ProtocolLimits.FrameHeaderSize + capacity];
        _length = ProtocolLimits.FrameHeaderSize;
    }

    private Span<byte> Grab(int count)
    {
        if (_length + count > _buffer.Length)
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + count));
        var span = _buffer.AsSpan(_length, count);
        _length += count;
        return span;
    }

    public WireWriter U8(byte value) { Grab(1)[0] = value; return this; }
    public WireWriter Flag(bool value) => U8(value ? (byte)1 : (byte)0);
    public WireWriter U16(ushort value) { BinaryPrimitives.WriteUInt16BigEndian(Grab(2), value); return this; }
    public WireWriter U32(uint value) { BinaryPrimitives.WriteUInt32BigEndian(Grab(4), value); return this; }
    public WireWriter U31(int value)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        return U32((uint)value);
    }
    public WireWriter I64(long value) { BinaryPrimitives.WriteInt64BigEndian(Grab(8), value); return this; }

    public WireWriter Str(string value)
    {
        var count = Encoding.UTF8.GetByteCount(value);
        if (count > ProtocolLimits.MaxStringBytes)
            throw new ArgumentException($"string of {count} UTF-8 bytes exceeds the {ProtocolLimits.MaxStringBytes}-byte field limit", nameof(value));
        U16((ushort)count);
        Encoding.UTF8.GetBytes(value, Grab(count));
        return this;
    }

    /// <summary>A free-text string (a reason, an error message): longer than <paramref name="maxBytes"/> UTF-8 bytes,
    /// it is cut at a character boundary and ends in "…" (the whole is then exactly at most maxBytes).</summary>
    public WireWriter Text(string value, int maxBytes = ProtocolLimits.MaxReasonBytes)
    {
        ArgumentNullException.ThrowIfNull(value);
        return Str(WireText.Cap(value, maxBytes));
    }

    public WireWriter Bytes(ReadOnlySpan<byte> value) { value.CopyTo(Grab(value.Length)); return this; }

    public WireWriter Bin8(ReadOnlySpan<byte> value)
    {
        if (value.Length > byte.MaxValue) throw new ArgumentException("byte string longer than 255 bytes", nameof(value));
        U8((byte)value.Length);
        return Bytes(value);
    }

    /// <summary>The whole frame: length prefix, type byte, the fields written so far.</summary>
    public byte[] ToFrame(FrameType type)
    {
        var frameLength = _length - ProtocolLimits.LengthPrefixSize;
        BinaryPrimitives.WriteUInt32BigEndian(_buffer, (uint)frameLength);
        _buffer[ProtocolLimits.LengthPrefixSize] = (byte)type;
        if (_buffer.Length == _length) return _buffer;
        return _buffer.AsSpan(0, _length).ToArray();
    }
}
