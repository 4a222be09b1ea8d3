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
        /// <summary>A flag: one byte, 0 or 1.</summary>
        U8,
        U16,
        U32,
        I64,
        Str,
        Bin8,
        Names,
        Sha256,
        Rest,
        /// <summary>A RoomList's entries: u32 count, then (str, u32, str) each.</summary>
        RoomEntries,
        /// <summary>A MemberList's entries: u32 count, then (str, flag) each.</summary>
        MemberEntries,
    }

    public static IReadOnlyList<Kind> Fields(FrameType type) => type switch
    {
        FrameType.Hello => [Kind.Magic, Kind.U16, Kind.U32, Kind.Str, Kind.Str, Kind.Bin8],
        FrameType.Welcome => [Kind.U16, Kind.U32, Kind.Str, Kind.Str, Kind.Bin8, Kind.U8, Kind.U32, Kind.U32, Kind.U32, Kind.U32, Kind.U32, Kind.U32,
            Kind.U32, Kind.U32, Kind.U32, Kind.U32, Kind.Names],
        FrameType.Refused or FrameType.Goodbye or FrameType.Error => [Kind.U16, Kind.Str],
        FrameType.Ping or FrameType.WhoRequest or FrameType.RoomsRequest or FrameType.Unregister => [],
        FrameType.Say => [Kind.U32, Kind.Str, Kind.Str],
        FrameType.SayAck => [Kind.U32, Kind.I64, Kind.U8],
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
        FrameType.JoinRoom or FrameType.LeaveRoom or FrameType.MembersRequest => [Kind.Str],
        FrameType.SetTopic or FrameType.MemberJoined or FrameType.MemberLeft => [Kind.Str, Kind.Str],
        FrameType.RoomJoined => [Kind.Str, Kind.Str, Kind.U32, Kind.U8],
        FrameType.RoomLeft or FrameType.RoomRefused => [Kind.Str, Kind.U16, Kind.Str],
        FrameType.RoomList => [Kind.RoomEntries],
        FrameType.MemberList => [Kind.Str, Kind.MemberEntries],
        FrameType.RoomTopic => [Kind.Str, Kind.Str, Kind.I64, Kind.Str],
        FrameType.HistoryRequest => [Kind.Str, Kind.I64, Kind.U16],
        FrameType.History => [Kind.Str, Kind.Str, Kind.I64, Kind.I64, Kind.Str],
        FrameType.HistoryEnd => [Kind.Str, Kind.I64, Kind.U8],
        FrameType.NameStatus => [Kind.Str, Kind.U8, Kind.Str],
        FrameType.Held => [Kind.U32, Kind.Str, Kind.U32],
        FrameType.GetFile => [Kind.Str],
        FrameType.Claim or FrameType.Proof => [Kind.U32, Kind.Sha256],
        FrameType.Prove => [Kind.U32, Kind.I64, Kind.U32, Kind.Bin8],
        FrameType.Delivery => [Kind.Str, Kind.Str, Kind.Str, Kind.U8, Kind.I64, Kind.I64, Kind.Str],
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
                case Kind.U8: at += 1; break;
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
                case Kind.RoomEntries:
                case Kind.MemberEntries:
                {
                    prefix = 4;
                    var count = (payload[at] << 24) | (payload[at + 1] << 16) | (payload[at + 2] << 8) | payload[at + 3];
                    at += 4;
                    for (var i = 0; i < count; i++)
                    {
                        at += 2 + ((payload[at] << 8) | payload[at + 1]);
                        if (kind == Kind.MemberEntries)
                        {
                            at += 1;
                            continue;
                        }
                        at += 4;
                        at += 2 + ((payload[at] << 8) | payload[at + 1]);
                    }
                    break;
                }
                case Kind.Rest: at = payload.Length; break;
            }
            fields.Add(new Field(kind, start, at - start, prefix));
        }
        return fields;
    }
}
