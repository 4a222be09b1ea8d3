using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Server;
using AkkaTcpTransfer.Server.Federation;
using AkkaTcpTransfer.Server.Relay;
using AkkaTcpTransfer.Server.Sessions;
using AkkaTcpTransfer.Server.Lines;

namespace AkkaTcpTransfer.Cluster;

/// <summary>Writes every <see cref="IClusterMessage"/> and the server's own <see cref="ICrossNodeMessage"/>s for Akka.Remote: compact, versionless binary (all nodes of a
/// cluster run the same protocol version, which they check in <see cref="ClusterMessages.NodeHello"/>). Relayed
/// transfer frames travel in their wire encoding (docs/PROTOCOL.md). An unknown manifest or bad bytes throw
/// <see cref="SerializationException"/>: Akka drops that message and keeps the link.</summary>
internal sealed partial class ClusterSerializer : SerializerWithStringManifest
{
    public ClusterSerializer(ExtendedActorSystem system) : base(system) { }

    /// <summary>Unique among the system's serializers (Akka's own are below 100).</summary>
    public override int Identifier => 7420;

    public override string Manifest(object o) => o switch
    {
        ClusterMessages.NodeHello => "H",
        ClusterMessages.NodeRefused => "N",
        ClusterMessages.SessionUp => "U",
        ClusterMessages.SessionDown => "D",
        ClusterMessages.Broadcast => "B",
        ClusterMessages.Claim => "C",
        ClusterMessages.ClaimAnswer => "A",
        ClusterMessages.Release => "R",
        ClusterMessages.Takeover => "T",
        ClusterMessages.ResendSession => "W",
        ClusterMessages.RebuildRequest => "Q",
        ClusterMessages.Holding => "L",
        ClusterMessages.Reconcile => "K",
        LineAnswers.SayFailed => "S",
        LineAnswers.SayDone => "V",
        RelayMessages.RelayOffer => "o",
        RelayMessages.RelayFrame => "f",
        RelayMessages.RelayGone => "g",
        LineAnswers.SayDeferred => "X",
        _ => EntityManifest(o) ?? throw new SerializationException($"{o.GetType()} is not a cluster message"),
    };

    public override byte[] ToBinary(object obj)
    {
        // The bulk of what crosses nodes: a relayed frame is its wire encoding, as is (one copy of a chunk's bytes).
        if (obj is RelayMessages.RelayFrame relayed) return FrameEncoder.Encode(relayed.Frame);
        using var buffer = new MemoryStream();
        using (var w = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            switch (obj)
            {
                case ClusterMessages.NodeHello h:
                    w.Write(h.ProtocolVersion);
                    Bin(w, h.TokenKey);
                    w.Write(h.Part);
                    w.Write(h.Last);
                    w.Write(h.Sessions.Count);
                    foreach (var s in h.Sessions) Session(w, s);
                    Ref(w, h.Registry);
                    w.Write(h.LinkHost);
                    w.Write(h.LinkPort);
                    w.Write(h.StoreId);
                    break;
                case ClusterMessages.NodeRefused r:
                    w.Write(r.Reason);
                    break;
                case ClusterMessages.SessionUp u:
                    Session(w, u.Session);
                    break;
                case ClusterMessages.SessionDown d:
                    w.Write(d.Name);
                    Ref(w, d.Peer);
                    break;
                case ClusterMessages.Broadcast b:
                    w.Write(b.From);
                    w.Write(b.AtMs);
                    w.Write(b.Text);
                    w.Write(b.Seq);
                    break;
                case ClusterMessages.Claim c:
                    w.Write(c.Request);
                    w.Write(c.Name);
                    Bin(w, c.Identity);
                    break;
                case ClusterMessages.ClaimAnswer a:
                    w.Write(a.Request);
                    w.Write(a.Granted);
                    w.Write(a.Reason);
                    break;
                case ClusterMessages.Release r:
                    w.Write(r.Name);
                    Bin(w, r.Identity);
                    w.Write(r.Claim);
                    break;
                case ClusterMessages.Takeover t:
                    w.Write(t.Name);
                    break;
                case ClusterMessages.ResendSession rs:
                    w.Write(rs.Name);
                    break;
                case ClusterMessages.RebuildRequest:
                    break;
                case ClusterMessages.Holding l:
                    w.Write(l.Last);
                    w.Write(l.Names.Count);
                    foreach (var n in l.Names)
                    {
                        w.Write(n.Name);
                        Bin(w, n.Identity);
                        w.Write(n.Claim);
                    }
                    break;
                case ClusterMessages.Reconcile k:
                    w.Write(k.UpTo);
                    w.Write(k.Last);
                    w.Write(k.Names.Count);
                    foreach (var n in k.Names)
                    {
                        w.Write(n.Name);
                        Bin(w, n.Identity);
                        w.Write(n.Claim);
                    }
                    break;
                case LineAnswers.SayFailed f:
                    w.Write(f.Id);
                    w.Write((ushort)f.Code);
                    w.Write(f.Reason);
                    break;
                case LineAnswers.SayDone d:
                    w.Write(d.Id);
                    w.Write(d.AtMs);
                    w.Write(d.Held);
                    break;
                case LineAnswers.SayDeferred x:
                    w.Write(x.Id);
                    w.Write(x.Wait.Ticks);
                    break;
                case RelayMessages.RelayOffer o:
                    Bin(w, FrameEncoder.Encode(o.Offer));
                    Ref(w, o.SenderPeer);
                    break;
                case RelayMessages.RelayGone g:
                    w.Write(g.Id);
                    w.Write(g.Reason);
                    break;
                default:
                    if (!WriteEntityMessage(w, obj)) throw new SerializationException($"{obj.GetType()} is not a cluster message");
                    break;
            }
        }
        return buffer.ToArray();
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        try
        {
            using var r = new BinaryReader(new MemoryStream(bytes, writable: false), System.Text.Encoding.UTF8);
            return manifest switch
            {
                "H" => new ClusterMessages.NodeHello(r.ReadInt32(), Bin(r), r.ReadInt32(), r.ReadBoolean(), List(r, Session), Ref(r), r.ReadString(), r.ReadInt32(),
                    r.ReadString()),
                "N" => new ClusterMessages.NodeRefused(r.ReadString()),
                "U" => new ClusterMessages.SessionUp(Session(r)),
                "D" => new ClusterMessages.SessionDown(r.ReadString(), Ref(r)),
                "B" => new ClusterMessages.Broadcast(r.ReadString(), r.ReadInt64(), r.ReadString(), r.ReadInt64()),
                "C" => new ClusterMessages.Claim(r.ReadInt64(), r.ReadString(), Bin(r)),
                "A" => new ClusterMessages.ClaimAnswer(r.ReadInt64(), r.ReadBoolean(), r.ReadString()),
                "R" => new ClusterMessages.Release(r.ReadString(), Bin(r), r.ReadInt64()),
                "T" => new ClusterMessages.Takeover(r.ReadString()),
                "W" => new ClusterMessages.ResendSession(r.ReadString()),
                "Q" => ClusterMessages.RebuildRequest.Instance,
                "L" => ReadHolding(r),
                "K" => ReadReconcile(r),
                "S" => new LineAnswers.SayFailed(r.ReadUInt32(), (WireCode)r.ReadUInt16(), r.ReadString()),
                "V" => new LineAnswers.SayDone(r.ReadUInt32(), r.ReadInt64(), r.ReadBoolean()),
                "X" => new LineAnswers.SayDeferred(r.ReadUInt32(), TimeSpan.FromTicks(r.ReadInt64())),
                "o" => new RelayMessages.RelayOffer((Offer)Frame(r), Ref(r)),
                "f" => new RelayMessages.RelayFrame((TransferFrame)Frame(bytes)),
                "g" => new RelayMessages.RelayGone(r.ReadUInt32(), r.ReadString()),
                _ => ReadEntityMessage(manifest, r) ?? throw new SerializationException($"unknown cluster message manifest '{manifest}'"),
            };
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or ProtocolException or InvalidCastException or ArgumentException or FormatException)
        {
            throw new SerializationException($"a cluster message '{manifest}' could not be read: {e.Message}", e);
        }
    }

    private static ClusterMessages.Holding ReadHolding(BinaryReader r)
    {
        var last = r.ReadBoolean();
        return new ClusterMessages.Holding(List(r, x => new ClusterMessages.HeldName(x.ReadString(), Bin(x), x.ReadInt64())), last);
    }

    private static ClusterMessages.Reconcile ReadReconcile(BinaryReader r)
    {
        var upTo = r.ReadInt64();
        var last = r.ReadBoolean();
        return new ClusterMessages.Reconcile(List(r, x => new ClusterMessages.HeldName(x.ReadString(), Bin(x), x.ReadInt64())), upTo, last);
    }

    private static void Session(BinaryWriter w, ClusterMessages.RemoteSession s)
    {
        w.Write(s.Name);
        Ref(w, s.Peer);
        w.Write(s.MaxFrame);
        Bin(w, s.Identity);
    }

    private ClusterMessages.RemoteSession Session(BinaryReader r) => new(r.ReadString(), Ref(r), r.ReadInt32(), Bin(r));

    private static void Bin(BinaryWriter w, byte[] bytes)
    {
        w.Write(bytes.Length);
        w.Write(bytes);
    }

    private static byte[] Bin(BinaryReader r)
    {
        var length = r.ReadInt32();
        if (length < 0 || length > ClusterConfig.MaxRemoteFrame) throw new SerializationException($"bad length {length}");
        var bytes = r.ReadBytes(length);
        if (bytes.Length != length) throw new EndOfStreamException();
        return bytes;
    }

    private static List<T> List<T>(BinaryReader r, Func<BinaryReader, T> item)
    {
        var count = r.ReadInt32();
        if (count < 0 || count > ClusterConfig.MaxRemoteFrame) throw new SerializationException($"bad count {count}");
        var list = new List<T>(Math.Min(count, 1024));
        for (var i = 0; i < count; i++) list.Add(item(r));
        return list;
    }

    private static void Ref(BinaryWriter w, IActorRef actor) => w.Write(Akka.Serialization.Serialization.SerializedActorPath(actor));

    private IActorRef Ref(BinaryReader r) => system.Provider.ResolveActorRef(r.ReadString());

    /// <summary>A frame in its wire encoding: length prefix, type, payload.</summary>
    private static Frame Frame(BinaryReader r) => Frame(Bin(r));

    private static Frame Frame(byte[] bytes)
    {
        if (bytes.Length < ProtocolLimits.FrameHeaderSize) throw new SerializationException("frame too short");
        return FrameDecoder.Parse((FrameType)bytes[ProtocolLimits.FrameHeaderSize - 1], bytes[ProtocolLimits.FrameHeaderSize..]);
    }
}
