using System.Buffers.Binary;

namespace AkkaTcpTransfer.Protocol;

/// <summary>Turns frames into bytes. Pure: no sockets, no actors, no state.</summary>
public static class FrameEncoder
{
    /// <summary>The complete frame: length prefix, type, payload. A <see cref="Chunk"/> is copied here; the hot path
    /// uses <see cref="EncodeChunkHeader"/> and sends the data bytes without copying them.</summary>
    /// <remarks>Free-text fields (reasons and error messages) are cut to <see cref="ProtocolLimits.MaxReasonBytes"/>
    /// at a character boundary, ending in "…", so text a peer chose and we echo can never make a frame unencodable.
    /// Every other string (names, file names, chat text) must be validated by the caller: one longer than a string
    /// field can carry (65,535 UTF-8 bytes) is a programming error and throws.</remarks>
    public static byte[] Encode(Frame frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        var w = new WireWriter();
        switch (frame)
        {
            case Hello h:
                w.Bytes(ProtocolLimits.Magic).U16(h.Version).U31(h.MaxFrameLength).Str(h.Name).Str(h.Token).Bin8(h.ResumeKey);
                break;
            case Welcome m:
                w.U16(m.Version).U31(m.MaxFrameLength).Str(m.ServerName).Str(m.YourName).Bin8(m.ResumeKey).Flag(m.Registered)
                    .U31(m.Limits.ChatPerSecond).U31(m.Limits.ChatBurst).U31(m.Limits.WhoPerSecond).U31(m.Limits.WhoBurst)
                    .U31(m.Limits.OffersPerSecond).U31(m.Limits.OffersBurst).U31(m.Limits.RoomsPerSecond).U31(m.Limits.RoomsBurst)
                    .U31(m.Limits.HistoryPerSecond).U31(m.Limits.HistoryBurst).U31(m.Peers.Count);
                foreach (var p in m.Peers) w.Str(p);
                break;
            case Refused r:
                w.U16((ushort)r.Code).Text(r.Reason);
                break;
            case Ping:
            case WhoRequest:
            case RoomsRequest:
            case Unregister:
                break;
            case Goodbye g:
                w.U16((ushort)g.Code).Text(g.Reason);
                break;
            case Error e:
                w.U16((ushort)e.Code).Text(e.Message);
                break;
            case Say s:
                w.U32(s.Id).Str(s.To).Str(s.Text);
                break;
            case SayAck a:
                w.U32(a.Id).I64(a.AtUnixMs).Flag(a.Held);
                break;
            case SayRefused r:
                w.U32(r.Id).U16((ushort)r.Code).Text(r.Reason);
                break;
            case Chat c:
                w.Str(c.From).Str(c.To).I64(c.AtUnixMs).Str(c.Text);
                break;
            case PeerJoined j:
                w.Str(j.Name);
                break;
            case PeerLeft l:
                w.Str(l.Name);
                break;
            case WhoReply r:
                w.U31(r.Names.Count);
                foreach (var n in r.Names) w.Str(n);
                break;
            case JoinRoom j:
                w.Str(j.Room);
                break;
            case LeaveRoom l:
                w.Str(l.Room);
                break;
            case MembersRequest m:
                w.Str(m.Room);
                break;
            case SetTopic t:
                w.Str(t.Room).Str(t.Topic);
                break;
            case RoomJoined j:
                w.Str(j.Room).Str(j.Topic).U31(j.Members).Flag(j.Rejoined);
                break;
            case RoomLeft l:
                w.Str(l.Room).U16((ushort)l.Code).Text(l.Reason);
                break;
            case RoomList l:
                w.U31(l.Rooms.Count);
                foreach (var room in l.Rooms) w.Str(room.Room).U31(room.Members).Str(room.Topic);
                break;
            case MemberList l:
                w.Str(l.Room).U31(l.Members.Count);
                foreach (var member in l.Members) w.Str(member.Name).Flag(member.Online);
                break;
            case RoomTopic t:
                w.Str(t.Room).Str(t.By).I64(t.AtUnixMs).Str(t.Topic);
                break;
            case MemberJoined j:
                w.Str(j.Room).Str(j.Name);
                break;
            case MemberLeft l:
                w.Str(l.Room).Str(l.Name);
                break;
            case RoomRefused r:
                w.Str(r.Room).U16((ushort)r.Code).Text(r.Reason);
                break;
            case HistoryRequest h:
                if (h.Before < 0 || h.Count is < 0 or > ushort.MaxValue) throw new ArgumentException("history before and count are out of range", nameof(frame));
                w.Str(h.Target).I64(h.Before).U16((ushort)h.Count);
                break;
            case History h:
                w.Str(h.From).Str(h.To).I64(h.AtUnixMs).I64(h.Seq).Str(h.Text);
                break;
            case HistoryEnd e:
                w.Str(e.Target).I64(e.Oldest).Flag(e.More);
                break;
            case Held h:
                if (h.Recipients < 0) throw new ArgumentException("a kept file's recipients cannot be negative", nameof(frame));
                w.U32(h.Id).Str(h.FileId).U32((uint)h.Recipients);
                break;
            case GetFile g:
                w.Str(g.FileId);
                break;
            case Delivery d:
                w.Str(d.FileId).Str(d.File).Str(d.To).U8((byte)d.State).I64(d.Bytes).I64(d.Size).Text(d.Reason);
                break;
            case NameStatus n:
                w.Str(n.Name).Flag(n.Registered).Text(n.Reason);
                break;
            case Offer o:
                w.U32(o.Id).Str(o.From).Bin8(o.SenderId).Str(o.To).Str(o.File).I64(o.Size).I64(o.Fingerprint);
                break;
            case Accept a:
                w.U32(a.Id).I64(a.Offset).Bin8(a.PrefixSha256).U31(a.MaxChunk).U31(a.Window);
                break;
            case Reject r:
                w.U32(r.Id).Text(r.Reason);
                break;
            case Start s:
                w.U32(s.Id).I64(s.Offset).U31(s.Window);
                break;
            case Chunk c:
                w.U32(c.Id).I64(c.Offset).Bytes(c.Data.Span);
                break;
            case Ack a:
                w.U32(a.Id).I64(a.Written);
                break;
            case Done d:
                RequireSha(d.Sha256, nameof(Done));
                w.U32(d.Id).I64(d.Size).Bytes(d.Sha256);
                break;
            case Verified v:
                RequireSha(v.Sha256, nameof(Verified));
                w.U32(v.Id).Bytes(v.Sha256);
                break;
            case Cancel c:
                w.U32(c.Id).Str(c.By).Text(c.Reason);
                break;
            case Fail f:
                w.U32(f.Id).Text(f.Reason);
                break;
            case Claim c:
                RequireSha(c.Sha256, nameof(Claim));
                w.U32(c.Id).Bytes(c.Sha256);
                break;
            case Prove p:
                if (p.Offset < 0 || p.Length < 0) throw new ArgumentException("a proof's slice cannot be negative", nameof(frame));
                w.U32(p.Id).I64(p.Offset).U31(p.Length).Bin8(p.Nonce);
                break;
            case Proof p:
                RequireSha(p.Sha256, nameof(Proof));
                w.U32(p.Id).Bytes(p.Sha256);
                break;
            case LinkHello h:
                w.U16(h.Version).Bin8(h.TokenKey);
                break;
            case LinkMessage m:
                if (m.Payload.IsEmpty) throw new ArgumentException("a LinkMessage carries a payload", nameof(frame));
                w.Str(m.Manifest).Str(m.Target).Str(m.Sender).Bytes(m.Payload.Span);
                break;
            default:
                throw new ArgumentException($"no encoding for {frame.GetType().Name}", nameof(frame));
        }
        return w.ToFrame(frame.Type);
    }

    /// <summary>A LinkMessage up to the last <paramref name="tailLength"/> bytes of its payload, which follow it on the
    /// wire unchanged (a relayed chunk's data, sent from the buffer it arrived in): the length prefix counts them.</summary>
    public static byte[] EncodeLinkMessageHead(string manifest, string target, string sender, ReadOnlySpan<byte> payloadHead, int tailLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tailLength);
        var w = new WireWriter();
        w.Str(manifest).Str(target).Str(sender).Bytes(payloadHead);
        var head = w.ToFrame(FrameType.LinkMessage);
        var length = BinaryPrimitives.ReadUInt32BigEndian(head);
        BinaryPrimitives.WriteUInt32BigEndian(head, length + (uint)tailLength);
        return head;
    }

    /// <summary>The first <see cref="ChunkHeaderSize"/> bytes of a Chunk frame carrying <paramref name="dataLength"/>
    /// data bytes; the data follows on the wire unchanged.</summary>
    public static byte[] EncodeChunkHeader(uint id, long offset, int dataLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dataLength);
        var header = new byte[ChunkHeaderSize];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)(ProtocolLimits.ChunkOverhead + dataLength));
        header[4] = (byte)FrameType.Chunk;
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(5), id);
        BinaryPrimitives.WriteInt64BigEndian(header.AsSpan(9), offset);
        return header;
    }

    /// <summary>Length prefix, type, id and offset of a Chunk frame.</summary>
    public const int ChunkHeaderSize = ProtocolLimits.LengthPrefixSize + ProtocolLimits.ChunkOverhead;

    private static void RequireSha(byte[] sha, string frame)
    {
        if (sha.Length != ProtocolLimits.Sha256Length)
            throw new ArgumentException($"{frame} needs a {ProtocolLimits.Sha256Length}-byte SHA-256, got {sha.Length} bytes");
    }
}
