using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Fuzzing;

/// <summary>The field layout of every frame type, as docs/PROTOCOL.md gives it: what a mutator needs to change one
/// field (a string's length, a count, a number) and keep the rest of the frame well formed, so that the mutation
/// reaches field parsing instead of stopping at the length check.</summary>
public static class FrameSchema
{
    public enum Kind
    {
        Magic,
        U16,
        U32,
        I64,
        Str,
        Bin8,
        Names,
        Sha256,
        Rest,
    }

    public static IReadOnlyList<Kind> Fields(FrameType type) => type switch
    {
        FrameType.Hello => [Kind.Magic, Kind.U16, Kind.U32, Kind.Str, Kind.Str, Kind.Bin8],
        FrameType.Welcome => [Kind.U16, Kind.U32, Kind.Str, Kind.Str, Kind.Bin8, Kind.U32, Kind.U32, Kind.U32, Kind.U32, Kind.U32, Kind.U32, Kind.Names],
        FrameType.Refused or FrameType.Goodbye or FrameType.Error => [Kind.U16, Kind.Str],
        FrameType.Ping or FrameType.WhoRequest => [],
        FrameType.Say => [Kind.U32, Kind.Str, Kind.Str],
        FrameType.SayAck => [Kind.U32, Kind.I64],
        FrameType.SayRefused => [Kind.U32, Kind.U16, Kind.Str],
        FrameType.Chat => [Kind.Str, Kind.Str, Kind.I64, Kind.Str],
        FrameType.PeerJoined or FrameType.PeerLeft => [Kind.Str],
        FrameType.WhoReply => [Kind.Names],
        FrameType.Offer => [Kind.U32, Kind.Str, Kind.Bin8, Kind.Str, Kind.Str, Kind.I64, Kind.I64],
        FrameType.Accept => [Kind.U32, Kind.I64, Kind.Bin8, Kind.U32, Kind.U32],
        FrameType.Reject or FrameType.Fail => [Kind.U32, Kind.Str],
        FrameType.Start => [Kind.U32, Kind.I64, Kind.U32],
        FrameType.Chunk => [Kind.U32, Kind.I64, Kind.Rest],
        FrameType.Ack => [Kind.U32, Kind.I64],
        FrameType.Done => [Kind.U32, Kind.I64, Kind.Sha256],
        FrameType.Verified => [Kind.U32, Kind.Sha256],
        FrameType.Cancel => [Kind.U32, Kind.Str, Kind.Str],
        FrameType.LinkHello => [Kind.U16, Kind.Bin8],
        FrameType.LinkMessage => [Kind.Str, Kind.Str, Kind.Str, Kind.Rest],
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "no schema"),
    };

    /// <summary>One field of a well-formed payload: where it starts, how long it is (with its length prefix, for
    /// strings and byte strings), and where its own length or count prefix is (-1 if it has none).</summary>
    public readonly record struct Field(Kind Kind, int Start, int Length, int PrefixLength);

    /// <summary>Splits a well-formed payload into its fields.</summary>
    public static List<Field> Split(FrameType type, ReadOnlySpan<byte> payload)
    {
        var fields = new List<Field>();
        var at = 0;
        foreach (var kind in Fields(type))
        {
            var start = at;
            var prefix = 0;
            switch (kind)
            {
                case Kind.Magic: at += 4; break;
                case Kind.U16: at += 2; break;
                case Kind.U32: at += 4; break;
                case Kind.I64: at += 8; break;
                case Kind.Sha256: at += 32; break;
                case Kind.Str:
                    prefix = 2;
                    at += 2 + ((payload[at] << 8) | payload[at + 1]);
                    break;
                case Kind.Bin8:
                    prefix = 1;
                    at += 1 + payload[at];
                    break;
                case Kind.Names:
                {
                    prefix = 4;
                    var count = (payload[at] << 24) | (payload[at + 1] << 16) | (payload[at + 2] << 8) | payload[at + 3];
                    at += 4;
                    for (var i = 0; i < count; i++) at += 2 + ((payload[at] << 8) | payload[at + 1]);
                    break;
                }
                case Kind.Rest: at = payload.Length; break;
            }
            fields.Add(new Field(kind, start, at - start, prefix));
        }
        return fields;
    }
}
