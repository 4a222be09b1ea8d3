using System.Buffers.Binary;

namespace AkkaTcpTransfer.Protocol;

/// <summary>Incremental decoder: feed it whatever bytes TCP delivers, in any split, and it yields whole frames.
/// Pure code, no I/O. After it throws a <see cref="ProtocolException"/> the stream is unusable and the decoder
/// refuses further input.</summary>
/// <remarks>Memory: a frame's payload is allocated once, at its exact declared length, after the length has been
/// checked against the limit; the bytes are copied into it exactly once. A Chunk's data is a slice of that payload
/// (no second copy). Keep the limit below 85,000 bytes and no payload lands on the large object heap.</remarks>
public sealed class FrameDecoder
{
    private readonly int _maxFrameLength;
    private readonly bool _poolChunks;
    private readonly byte[] _header = new byte[ProtocolLimits.FrameHeaderSize];
    private int _headerFilled;
    private byte[]? _payload;
    private int _payloadLength;
    private int _payloadFilled;
    private FrameType _type;
    private bool _poisoned;

    /// <param name="poolChunks">Chunk payloads come from <see cref="System.Buffers.ArrayPool{T}.Shared"/> and are
    /// handed back by their consumer (<see cref="Chunk.Release"/>): no allocation per chunk.</param>
    public FrameDecoder(int maxFrameLength, bool poolChunks = false)
    {
        if (maxFrameLength < ProtocolLimits.MinFrameLength || maxFrameLength > ProtocolLimits.AbsoluteMaxFrameLength)
            throw new ArgumentOutOfRangeException(nameof(maxFrameLength), maxFrameLength,
                $"must be between {ProtocolLimits.MinFrameLength} and {ProtocolLimits.AbsoluteMaxFrameLength}");
        _maxFrameLength = maxFrameLength;
        _poolChunks = poolChunks;
    }

    public int MaxFrameLength => _maxFrameLength;

    /// <summary>True while bytes of an unfinished frame are held: a connection that ends now ended mid-frame.</summary>
    public bool HasPartialFrame => _headerFilled > 0;

    /// <summary>Consumes all of <paramref name="input"/> and appends every frame it completes to
    /// <paramref name="output"/>, in order. Bytes of an unfinished frame are kept for the next call.</summary>
    public void Decode(ReadOnlySpan<byte> input, List<Frame> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (_poisoned) throw new InvalidOperationException("the decoder failed earlier; the stream is unusable");
        try
        {
            while (!input.IsEmpty)
            {
                if (_headerFilled < _header.Length)
                {
                    var take = Math.Min(_header.Length - _headerFilled, input.Length);
                    input[..take].CopyTo(_header.AsSpan(_headerFilled));
                    var before = _headerFilled;
                    _headerFilled += take;
                    input = input[take..];
                    // The length is judged as soon as its four bytes are here, without waiting for the type byte.
                    if (before < ProtocolLimits.LengthPrefixSize && _headerFilled >= ProtocolLimits.LengthPrefixSize) CheckLength();
                    if (_headerFilled < _header.Length) break;
                    BeginPayload();
                }

                var payload = _payload!;
                var need = _payloadLength - _payloadFilled;
                if (need > 0)
                {
                    var take = Math.Min(need, input.Length);
                    input[..take].CopyTo(payload.AsSpan(_payloadFilled));
                    _payloadFilled += take;
                    input = input[take..];
                }
                if (_payloadFilled == _payloadLength)
                {
                    output.Add(Parse(_type, payload, 0, _payloadLength, pooled: _poolChunks && Pools(_type)));
                    _headerFilled = 0;
                    _payload = null;
                    _payloadFilled = 0;
                }
            }
        }
        catch (ProtocolException)
        {
            _poisoned = true;
            throw;
        }
    }

    private void CheckLength()
    {
        var length = BinaryPrimitives.ReadUInt32BigEndian(_header);
        if (length == 0) throw new EmptyFrameException();
        if (length > (uint)_maxFrameLength) throw new FrameTooLargeException(length, _maxFrameLength);
    }

    private void BeginPayload()
    {
        var length = BinaryPrimitives.ReadUInt32BigEndian(_header);
        var type = _header[ProtocolLimits.LengthPrefixSize];
        if (!Enum.IsDefined((FrameType)type)) throw new UnknownFrameTypeException(type);
        _type = (FrameType)type;
        var payloadLength = (int)length - 1;
        _payloadLength = payloadLength;
        // Not zeroed: every byte is overwritten before the frame is parsed.
        _payload = payloadLength == 0 ? []
            : _poolChunks && Pools(_type) ? System.Buffers.ArrayPool<byte>.Shared.Rent(payloadLength)
            : GC.AllocateUninitializedArray<byte>(payloadLength);
        _payloadFilled = 0;
    }

    /// <summary>The frames whose payload comes from the pool with pooled chunks: chunks, and a node link's messages
    /// (their bulk is relayed chunks, which keep the array: <see cref="LinkMessage.Release"/>).</summary>
    private static bool Pools(FrameType type) => type is FrameType.Chunk or FrameType.LinkMessage;

    /// <summary>Parses one complete payload. Public so tests and other tools can decode a frame body directly.</summary>
    public static Frame Parse(FrameType type, byte[] payload) => Parse(type, payload, 0, payload?.Length ?? 0, pooled: false);

    /// <summary>Parses a payload that is part of a larger array (a frame carried inside a node link's message): a Chunk's
    /// data is a slice of that array, no copy, and <paramref name="pooled"/> passes the array's ownership to it.</summary>
    public static Frame Parse(FrameType type, ArraySegment<byte> payload, bool pooled) =>
        Parse(type, payload.Array ?? throw new ArgumentNullException(nameof(payload)), payload.Offset, payload.Count, pooled);

    private static Frame Parse(FrameType type, byte[] payload, int start, int length, bool pooled)
    {
        ArgumentNullException.ThrowIfNull(payload);
        var r = new WireReader(payload.AsSpan(start, length), type);
        Frame frame;
        switch (type)
        {
            case FrameType.Hello:
            {
                var magic = r.Bytes(ProtocolLimits.Magic.Length, "magic");
                if (!magic.AsSpan().SequenceEqual(ProtocolLimits.Magic))
                    throw new MalformedFrameException(type, "bad magic (this peer does not speak AkkaTcpTransfer)");
                frame = new Hello(r.U16("version"), r.U31("max frame length"), r.Str("name"), r.Str("token"),
                    r.Bin8("resume key", ProtocolLimits.MaxResumeKeyLength));
                break;
            }
            case FrameType.Welcome:
            {
                var version = r.U16("version");
                var max = r.U31("max frame length");
                var server = r.Str("server name");
                var you = r.Str("your name");
                var key = r.Bin8("resume key", ProtocolLimits.MaxResumeKeyLength);
                var registered = r.Flag("registered");
                var limits = new ClientLimits(Rate(ref r, type, "chat rate"), Rate(ref r, type, "chat burst"), Rate(ref r, type, "who rate"),
                    Rate(ref r, type, "who burst"), Rate(ref r, type, "offer rate"), Rate(ref r, type, "offer burst"),
                    Rate(ref r, type, "room rate"), Rate(ref r, type, "room burst"), Rate(ref r, type, "history rate"), Rate(ref r, type, "history burst"));
                frame = new Welcome(version, max, server, you, key, registered, limits, ReadNames(ref r, type));
                break;
            }
            case FrameType.Refused:
                frame = new Refused((WireCode)r.U16("code"), r.Str("reason"));
                break;
            case FrameType.Ping:
                frame = Ping.Instance;
                break;
            case FrameType.Goodbye:
                frame = new Goodbye((WireCode)r.U16("code"), r.Str("reason"));
                break;
            case FrameType.Error:
                frame = new Error((WireCode)r.U16("code"), r.Str("message"));
                break;
            case FrameType.Say:
                frame = new Say(r.U32("id"), r.Str("to"), r.Str("text"));
                break;
            case FrameType.SayAck:
                frame = new SayAck(r.U32("id"), r.I64("at"), r.Flag("held"));
                break;
            case FrameType.SayRefused:
                frame = new SayRefused(r.U32("id"), (WireCode)r.U16("code"), r.Str("reason"));
                break;
            case FrameType.Chat:
                frame = new Chat(r.Str("from"), r.Str("to"), r.I64("at"), r.Str("text"));
                break;
            case FrameType.PeerJoined:
                frame = new PeerJoined(r.Str("name"));
                break;
            case FrameType.PeerLeft:
                frame = new PeerLeft(r.Str("name"));
                break;
            case FrameType.WhoRequest:
                frame = WhoRequest.Instance;
                break;
            case FrameType.WhoReply:
                frame = new WhoReply(ReadNames(ref r, type));
                break;
            case FrameType.JoinRoom:
                frame = new JoinRoom(r.Str("room"));
                break;
            case FrameType.LeaveRoom:
                frame = new LeaveRoom(r.Str("room"));
                break;
            case FrameType.RoomsRequest:
                frame = RoomsRequest.Instance;
                break;
            case FrameType.MembersRequest:
                frame = new MembersRequest(r.Str("room"));
                break;
            case FrameType.SetTopic:
                frame = new SetTopic(r.Str("room"), r.Str("topic"));
                break;
            case FrameType.RoomJoined:
                frame = new RoomJoined(r.Str("room"), r.Str("topic"), r.U31("members"), r.Flag("rejoined"));
                break;
            case FrameType.RoomLeft:
                frame = new RoomLeft(r.Str("room"), (WireCode)r.U16("code"), r.Str("reason"));
                break;
            case FrameType.RoomList:
            {
                var count = r.U31("count");
                // Each entry needs at least 2 + 4 + 2 bytes: a count the payload cannot hold is rejected before allocating.
                if (count > r.Remaining / 8) throw new MalformedFrameException(type, $"count {count} does not fit the frame");
                var rooms = new RoomInfo[count];
                for (var i = 0; i < count; i++) rooms[i] = new RoomInfo(r.Str("room"), r.U31("members"), r.Str("topic"));
                frame = new RoomList(rooms);
                break;
            }
            case FrameType.MemberList:
            {
                var room = r.Str("room");
                var count = r.U31("count");
                if (count > r.Remaining / 3) throw new MalformedFrameException(type, $"count {count} does not fit the frame");
                var members = new MemberInfo[count];
                for (var i = 0; i < count; i++) members[i] = new MemberInfo(r.Str("name"), r.Flag("online"));
                frame = new MemberList(room, members);
                break;
            }
            case FrameType.RoomTopic:
                frame = new RoomTopic(r.Str("room"), r.Str("by"), r.I64("at"), r.Str("topic"));
                break;
            case FrameType.MemberJoined:
                frame = new MemberJoined(r.Str("room"), r.Str("name"));
                break;
            case FrameType.MemberLeft:
                frame = new MemberLeft(r.Str("room"), r.Str("name"));
                break;
            case FrameType.RoomRefused:
                frame = new RoomRefused(r.Str("room"), (WireCode)r.U16("code"), r.Str("reason"));
                break;
            case FrameType.HistoryRequest:
                frame = new HistoryRequest(r.Str("target"), r.I64NonNegative("before"), r.U16("count"));
                break;
            case FrameType.History:
                frame = new History(r.Str("from"), r.Str("to"), r.I64("at"), r.I64NonNegative("seq"), r.Str("text"));
                break;
            case FrameType.HistoryEnd:
                frame = new HistoryEnd(r.Str("target"), r.I64NonNegative("oldest"), r.Flag("more"));
                break;
            case FrameType.Unregister:
                frame = Unregister.Instance;
                break;
            case FrameType.Held:
                frame = new Held(r.U32("id"), r.Str("file_id"), r.U31("recipients"));
                break;
            case FrameType.GetFile:
                frame = new GetFile(r.Str("file_id"));
                break;
            case FrameType.Delivery:
                var (fileId, file, to, state) = (r.Str("file_id"), r.Str("file"), r.Str("to"), r.U8("state"));
                if (state is < 1 or > 7) throw new MalformedFrameException(type, $"state {state} is not a delivery state");
                frame = new Delivery(fileId, file, to, (DeliveryState)state, r.I64NonNegative("bytes"), r.I64NonNegative("size"), r.Str("reason"));
                break;
            case FrameType.NameStatus:
                frame = new NameStatus(r.Str("name"), r.Flag("registered"), r.Str("reason"));
                break;
            case FrameType.Offer:
                frame = new Offer(TransferId(ref r, type), r.Str("from"), r.Bin8("sender id", ProtocolLimits.SenderIdLength * 2),
                    r.Str("to"), r.Str("file"), r.I64NonNegative("size"), r.I64("fingerprint"));
                break;
            case FrameType.Accept:
            {
                var id = TransferId(ref r, type);
                var offset = r.I64NonNegative("offset");
                var prefix = r.Bin8("prefix sha256", ProtocolLimits.Sha256Length);
                if (prefix.Length != 0 && prefix.Length != ProtocolLimits.Sha256Length)
                    throw new MalformedFrameException(type, $"prefix sha256 must be 0 or 32 bytes, got {prefix.Length}");
                var maxChunk = r.U31("max chunk");
                var window = r.U31("window");
                if (maxChunk == 0 || window == 0) throw new MalformedFrameException(type, "max chunk and window must be positive");
                frame = new Accept(id, offset, prefix, maxChunk, window);
                break;
            }
            case FrameType.Reject:
                frame = new Reject(TransferId(ref r, type), r.Str("reason"));
                break;
            case FrameType.Start:
            {
                var id = TransferId(ref r, type);
                var offset = r.I64NonNegative("offset");
                var window = r.U31("window");
                if (window == 0) throw new MalformedFrameException(type, "window must be positive");
                frame = new Start(id, offset, window);
                break;
            }
            case FrameType.Chunk:
            {
                var id = TransferId(ref r, type);
                var offset = r.I64NonNegative("offset");
                if (r.Remaining == 0) throw new MalformedFrameException(type, "no data");
                // Zero-copy: the data is the tail of the payload array this frame owns.
                return new Chunk(id, offset, new ReadOnlyMemory<byte>(payload, start + r.Position, r.Remaining)) { Pooled = pooled };
            }
            case FrameType.Ack:
                frame = new Ack(TransferId(ref r, type), r.I64NonNegative("written"));
                break;
            case FrameType.Done:
                frame = new Done(TransferId(ref r, type), r.I64NonNegative("size"), r.Bytes(ProtocolLimits.Sha256Length, "sha256"));
                break;
            case FrameType.Claim:
                frame = new Claim(TransferId(ref r, type), r.Bytes(ProtocolLimits.Sha256Length, "sha256"));
                break;
            case FrameType.Prove:
                frame = new Prove(TransferId(ref r, type), r.I64NonNegative("offset"), r.U31("length"), r.Bin8("nonce", 32));
                break;
            case FrameType.Proof:
                frame = new Proof(TransferId(ref r, type), r.Bytes(ProtocolLimits.Sha256Length, "sha256"));
                break;
            case FrameType.Verified:
                frame = new Verified(TransferId(ref r, type), r.Bytes(ProtocolLimits.Sha256Length, "sha256"));
                break;
            case FrameType.Cancel:
                frame = new Cancel(TransferId(ref r, type), r.Str("by"), r.Str("reason"));
                break;
            case FrameType.Fail:
                frame = new Fail(TransferId(ref r, type), r.Str("reason"));
                break;
            case FrameType.LinkHello:
                frame = new LinkHello(r.U16("version"), r.Bin8("token key", ProtocolLimits.Sha256Length));
                break;
            case FrameType.LinkMessage:
            {
                var manifest = r.Str("manifest");
                var target = r.Str("target");
                var sender = r.Str("sender");
                if (r.Remaining == 0) throw new MalformedFrameException(type, "no payload");
                // The payload is the tail of the payload array this frame owns: no copy.
                return new LinkMessage(manifest, target, sender, new ReadOnlyMemory<byte>(payload, start + r.Position, r.Remaining)) { Pooled = pooled };
            }
            default:
                throw new UnknownFrameTypeException((byte)type);
        }
        r.End();
        return frame;
    }

    private static uint TransferId(ref WireReader r, FrameType type)
    {
        var id = r.U32("id");
        if (id == 0) throw new MalformedFrameException(type, "transfer id 0 is reserved");
        return id;
    }

    /// <summary>A rate or burst of <see cref="ClientLimits"/>: at least 1 (a limit of nothing at all is no limit a
    /// client can keep).</summary>
    private static int Rate(ref WireReader r, FrameType type, string field)
    {
        var value = r.U31(field);
        if (value == 0) throw new MalformedFrameException(type, $"{field} must be positive");
        return value;
    }

    private static string[] ReadNames(ref WireReader r, FrameType type)
    {
        var count = r.U31("count");
        // Each name needs at least its 2-byte length: a count the payload cannot hold is rejected before allocating.
        if (count > r.Remaining / 2) throw new MalformedFrameException(type, $"count {count} does not fit the frame");
        var names = new string[count];
        for (var i = 0; i < count; i++) names[i] = r.Str("name");
        return names;
    }
}
