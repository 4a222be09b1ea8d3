using System.Buffers.Binary;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Fuzzing;

/// <summary>Makes a broken variant of a well-formed frame, one structural change at a time, and says which. Except
/// for <see cref="Strategy.LengthPrefix"/>, the length prefix is fixed up to match the mutated payload, so the frame
/// passes the length check and the decoder has to parse its fields.</summary>
public sealed class FrameMutator(Random random)
{
    public enum Strategy
    {
        /// <summary>The length prefix lies (0, one off, huge), the payload is unchanged.</summary>
        LengthPrefix,
        /// <summary>Another frame type's parser reads this payload.</summary>
        TypeByte,
        /// <summary>A string's, byte string's or name list's own length or count lies.</summary>
        FieldLength,
        /// <summary>A number becomes a boundary value: 0, -1, max, min, one off.</summary>
        FieldValue,
        /// <summary>A string field's bytes become invalid UTF-8.</summary>
        Utf8,
        /// <summary>The payload ends early, at a field boundary or inside a field.</summary>
        Truncate,
        /// <summary>Bytes are appended after the last field.</summary>
        Extend,
        /// <summary>Random bytes overwrite part of the payload.</summary>
        Scribble,
    }

    private static readonly Strategy[] Strategies = Enum.GetValues<Strategy>();
    private static readonly FrameType[] Types = Enum.GetValues<FrameType>();

    /// <summary>A mutation of <paramref name="frame"/> (a whole, well-formed encoded frame).</summary>
    public (byte[] Bytes, Strategy Strategy) Mutate(byte[] frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        var strategy = Strategies[random.Next(Strategies.Length)];
        return (Apply(frame, strategy), strategy);
    }

    public byte[] Apply(byte[] frame, Strategy strategy)
    {
        ArgumentNullException.ThrowIfNull(frame);
        var type = (FrameType)frame[ProtocolLimits.LengthPrefixSize];
        var payload = frame.AsSpan(ProtocolLimits.FrameHeaderSize).ToArray();
        var fields = FrameSchema.Split(type, payload);
        switch (strategy)
        {
            case Strategy.LengthPrefix:
            {
                var copy = (byte[])frame.Clone();
                var length = BinaryPrimitives.ReadUInt32BigEndian(copy);
                uint[] choices = [0, 1, length - 1, length + 1, length + (uint)random.Next(1, 64), uint.MaxValue, 0x7fffffff, (uint)random.Next()];
                BinaryPrimitives.WriteUInt32BigEndian(copy, choices[random.Next(choices.Length)]);
                return copy;
            }
            case Strategy.TypeByte:
            {
                FrameType other;
                do other = Types[random.Next(Types.Length)];
                while (other == type && Types.Length > 1);
                return Build(other, payload);
            }
            case Strategy.FieldLength:
            {
                var prefixed = fields.Where(f => f.PrefixLength > 0).ToList();
                if (prefixed.Count == 0) return Apply(frame, Strategy.Extend);
                var field = prefixed[random.Next(prefixed.Count)];
                var span = payload.AsSpan(field.Start, field.PrefixLength);
                var current = field.PrefixLength switch
                {
                    1 => span[0],
                    2 => BinaryPrimitives.ReadUInt16BigEndian(span),
                    _ => (long)BinaryPrimitives.ReadUInt32BigEndian(span),
                };
                long max = field.PrefixLength switch { 1 => byte.MaxValue, 2 => ushort.MaxValue, _ => uint.MaxValue };
                long[] choices = [0, current + 1, current - 1, current + random.Next(2, 300), max, max / 2, random.NextInt64(max + 1)];
                var value = Math.Clamp(choices[random.Next(choices.Length)], 0, max);
                switch (field.PrefixLength)
                {
                    case 1: span[0] = (byte)value; break;
                    case 2: BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)value); break;
                    default: BinaryPrimitives.WriteUInt32BigEndian(span, (uint)value); break;
                }
                return Build(type, payload);
            }
            case Strategy.FieldValue:
            {
                var numbers = fields.Where(f => f.Kind is FrameSchema.Kind.U8 or FrameSchema.Kind.U16 or FrameSchema.Kind.U32 or FrameSchema.Kind.I64 or FrameSchema.Kind.Magic).ToList();
                if (numbers.Count == 0) return Apply(frame, Strategy.Scribble);
                var field = numbers[random.Next(numbers.Count)];
                var span = payload.AsSpan(field.Start, field.Length);
                switch (random.Next(5))
                {
                    case 0: span.Clear(); break;
                    case 1: span.Fill(0xff); break;
                    case 2: span.Fill(0xff); span[0] = 0x7f; break;
                    case 3: span.Clear(); span[0] = 0x80; break;
                    default: span[^1] ^= (byte)(1 << random.Next(8)); break;
                }
                return Build(type, payload);
            }
            case Strategy.Utf8:
            {
                var strings = fields.Where(f => f.Kind is FrameSchema.Kind.Str && f.Length > 2).ToList();
                if (strings.Count == 0) return Apply(frame, Strategy.FieldLength);
                var field = strings[random.Next(strings.Count)];
                byte[][] invalid = [[0xff], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80], [0xc0, 0xaf]];
                var bad = invalid[random.Next(invalid.Length)];
                var at = field.Start + 2 + random.Next(field.Length - 2);
                for (var i = 0; i < bad.Length && at + i < field.Start + field.Length; i++) payload[at + i] = bad[i];
                return Build(type, payload);
            }
            case Strategy.Truncate:
            {
                if (payload.Length == 0) return Apply(frame, Strategy.TypeByte);
                var boundaries = fields.Select(f => f.Start).Concat(fields.Select(f => f.Start + f.PrefixLength)).Where(b => b < payload.Length).ToList();
                var cut = boundaries.Count > 0 && random.Next(2) == 0 ? boundaries[random.Next(boundaries.Count)] : random.Next(payload.Length);
                return Build(type, payload.AsSpan(0, cut).ToArray());
            }
            case Strategy.Extend:
            {
                var extra = new byte[random.Next(1, 40)];
                random.NextBytes(extra);
                return Build(type, [.. payload, .. extra]);
            }
            default:
            {
                if (payload.Length == 0) return Apply(frame, Strategy.Extend);
                var at = random.Next(payload.Length);
                var count = Math.Min(payload.Length - at, random.Next(1, 9));
                random.NextBytes(payload.AsSpan(at, count));
                return Build(type, payload);
            }
        }
    }

    private static byte[] Build(FrameType type, ReadOnlySpan<byte> payload)
    {
        var bytes = new byte[ProtocolLimits.FrameHeaderSize + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)(payload.Length + 1));
        bytes[ProtocolLimits.LengthPrefixSize] = (byte)type;
        payload.CopyTo(bytes.AsSpan(ProtocolLimits.FrameHeaderSize));
        return bytes;
    }
}
