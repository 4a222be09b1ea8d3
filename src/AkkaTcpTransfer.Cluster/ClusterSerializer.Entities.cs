using System.Runtime.Serialization;
using Akka.Actor;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Server.Accounts;
using AkkaTcpTransfer.Server.Entities;
using AkkaTcpTransfer.Server.Names;
using AkkaTcpTransfer.Server.Replay;
using AkkaTcpTransfer.Server.Rooms;
using AkkaTcpTransfer.Tcp;

namespace AkkaTcpTransfer.Cluster;

/// <summary>The messages of rooms, accounts and the name registry, which cross nodes in a cluster: to a sharded room or
/// account on another node (inside an <see cref="EntityEnvelope"/>, whose message is written by whatever serializer
/// Akka binds to it), to the cluster's name registry and list of rooms, and back to sessions and connections. Manifests
/// start with a lower-case letter for the kind ("r" rooms, "a" accounts, "n" names, "e" envelopes, "c" connections).
/// Frames inside (a Post to a connection) travel in their wire encoding.</summary>
internal sealed partial class ClusterSerializer
{
    private static string? EntityManifest(object o) => o switch
    {
        EntityEnvelope => "eE",
        ConnectionMessages.Post => "cP",
        ConnectionMessages.PostEncoded => "cE",
        RoomMessages.Join => "rJ",
        RoomMessages.Open => "rO",
        RoomMessages.Leave => "rL",
        RoomMessages.Settled => "rZ",
        RoomMessages.Say => "rS",
        RoomMessages.SetTopic => "rT",
        RoomMessages.Members => "rM",
        RoomMessages.History => "rH",
        RoomMessages.HistoryRange => "rR",
        RoomMessages.Entered => "rE",
        RoomMessages.Exited => "rX",
        RoomMessages.NotEntered => "rN",
        RoomMessages.StoreLine => "rW",
        RoomMessages.Stored => "rD",
        RoomMessages.NotStored => "rF",
        RoomMessages.Scrollback => "rB",
        RoomMessages.ScrollbackSent => "rC",
        RoomMessages.Summary => "rY",
        RoomMessages.List => "rI",
        RoomMessages.Retain => "rK",
        AccountMessages.Online => "aO",
        AccountMessages.JoinRoom => "aJ",
        AccountMessages.LeaveRoom => "aL",
        AccountMessages.Deliver => "aD",
        AccountMessages.ReplayDirect => "aR",
        AccountMessages.Replayed => "aP",
        AccountMessages.Offline => "aF",
        AccountMessages.Written => "aW",
        NameMessages.Use => "nU",
        NameMessages.UseAnswer => "nA",
        NameMessages.Touch => "nT",
        NameMessages.Release => "nR",
        NameMessages.Free => "nF",
        NameMessages.Status => "nS",
        NameMessages.DeliverToOwner => "nD",
        _ => null,
    };

    private bool WriteEntityMessage(BinaryWriter w, object obj)
    {
        switch (obj)
        {
            case EntityEnvelope e:
                w.Write(e.EntityId);
                Nested(w, e.Message);
                return true;
            case ConnectionMessages.Post p:
                Bin(w, FrameEncoder.Encode(p.Frame));
                w.Write(p.Written is not null);
                if (p.Written is not null) Nested(w, p.Written);
                return true;
            case ConnectionMessages.PostEncoded p:
                Bin(w, p.Frame);
                return true;
            case RoomMessages.Join j:
                Join(w, j);
                return true;
            case RoomMessages.Open o:
                Join(w, o.Join);
                return true;
            case RoomMessages.Leave l:
                w.Write(l.Room);
                w.Write(l.Identity);
                w.Write(l.Name);
                Ref(w, l.Peer);
                Ref(w, l.Connection);
                Ref(w, l.Account);
                return true;
            case RoomMessages.Settled z:
                w.Write(z.Room);
                return true;
            case RoomMessages.Say s:
                w.Write(s.Id);
                w.Write(s.Room);
                w.Write(s.Identity);
                w.Write(s.From);
                w.Write(s.Text);
                w.Write(s.Origin);
                return true;
            case RoomMessages.SetTopic t:
                w.Write(t.Room);
                w.Write(t.Identity);
                w.Write(t.By);
                w.Write(t.Topic);
                Ref(w, t.Connection);
                return true;
            case RoomMessages.Members m:
                w.Write(m.Room);
                Ref(w, m.Connection);
                w.Write(m.Budget);
                return true;
            case RoomMessages.History h:
                w.Write(h.Room);
                w.Write(h.Identity);
                w.Write(h.Before);
                w.Write(h.Count);
                Ref(w, h.Connection);
                return true;
            case RoomMessages.HistoryRange r:
                w.Write(r.Target);
                w.Write(r.PersistenceId);
                w.Write(r.From);
                w.Write(r.To);
                w.Write(r.More);
                return true;
            case RoomMessages.Entered e:
                w.Write(e.Room);
                return true;
            case RoomMessages.Exited x:
                w.Write(x.Room);
                return true;
            case RoomMessages.NotEntered n:
                w.Write(n.Room);
                return true;
            case RoomMessages.StoreLine s:
                w.Write(s.Id);
                w.Write(s.From);
                w.Write(s.Text);
                w.Write(s.AtMs);
                w.Write(s.Key);
                return true;
            case RoomMessages.Stored s:
                w.Write(s.Id);
                w.Write(s.AtMs);
                w.Write(s.Seq);
                w.Write(s.Repeat);
                return true;
            case RoomMessages.NotStored n:
                w.Write(n.Id);
                w.Write((ushort)n.Code);
                w.Write(n.Reason);
                return true;
            case RoomMessages.Scrollback b:
                Ref(w, b.Connection);
                w.Write(b.BeforeMs);
                return true;
            case RoomMessages.ScrollbackSent b:
                Ref(w, b.Connection);
                w.Write(b.BeforeMs);
                w.Write(b.UpTo);
                return true;
            case RoomMessages.Summary y:
                w.Write(y.Room);
                w.Write(y.Members);
                w.Write(y.Topic);
                w.Write(y.Open);
                return true;
            case RoomMessages.List l:
                Ref(w, l.Connection);
                w.Write(l.Budget);
                return true;
            case RoomMessages.Retain:
                return true;
            case AccountMessages.Online o:
                w.Write(o.Name);
                Ref(w, o.Peer);
                Ref(w, o.Connection);
                return true;
            case AccountMessages.JoinRoom j:
                w.Write(j.Room);
                w.Write(j.Name);
                Ref(w, j.Peer);
                Ref(w, j.Connection);
                return true;
            case AccountMessages.LeaveRoom l:
                w.Write(l.Room);
                w.Write(l.Name);
                Ref(w, l.Peer);
                Ref(w, l.Connection);
                return true;
            case AccountMessages.Deliver d:
                Deliver(w, d);
                return true;
            case AccountMessages.ReplayDirect r:
                w.Write(r.Request.Target);
                w.Write(r.Request.PersistenceId);
                w.Write(r.Request.From);
                w.Write(r.Request.To);
                w.Write(r.Request.More);
                w.Write(r.Request.MinAtMs);
                return true;
            case AccountMessages.Replayed r:
                w.Write(r.UpTo);
                return true;
            case AccountMessages.Offline o:
                Ref(w, o.Peer);
                return true;
            case AccountMessages.Written x:
                w.Write(x.Seq);
                return true;
            case NameMessages.Use u:
                w.Write(u.Request);
                w.Write(u.Name);
                w.Write(u.Identity);
                return true;
            case NameMessages.UseAnswer a:
                w.Write(a.Request);
                w.Write(a.Allowed);
                w.Write(a.Registered);
                w.Write(a.Reason);
                return true;
            case NameMessages.Touch t:
                w.Write(t.Name);
                w.Write(t.Identity);
                return true;
            case NameMessages.Release r:
                w.Write(r.Name);
                w.Write(r.Identity);
                return true;
            case NameMessages.Free f:
                w.Write(f.Name);
                return true;
            case NameMessages.Status s:
                w.Write(s.Name);
                w.Write(s.Registered);
                w.Write(s.Reason);
                return true;
            case NameMessages.DeliverToOwner d:
                w.Write(d.Name);
                Deliver(w, d.Message);
                return true;
            default:
                return false;
        }
    }

    private object? ReadEntityMessage(string manifest, BinaryReader r) => manifest switch
    {
        "eE" => new EntityEnvelope(r.ReadString(), Nested(r)),
        "cP" => new ConnectionMessages.Post(Frame(r), r.ReadBoolean() ? Nested(r) : null),
        "cE" => new ConnectionMessages.PostEncoded(Bin(r)),
        "rJ" => Join(r),
        "rO" => new RoomMessages.Open(Join(r)),
        "rL" => new RoomMessages.Leave(r.ReadString(), r.ReadString(), r.ReadString(), Ref(r), Ref(r), Ref(r)),
        "rZ" => new RoomMessages.Settled(r.ReadString()),
        "rS" => new RoomMessages.Say(r.ReadUInt32(), r.ReadString(), r.ReadString(), r.ReadString(), r.ReadString(), r.ReadString()),
        "rT" => new RoomMessages.SetTopic(r.ReadString(), r.ReadString(), r.ReadString(), r.ReadString(), Ref(r)),
        "rM" => new RoomMessages.Members(r.ReadString(), Ref(r), r.ReadInt32()),
        "rH" => new RoomMessages.History(r.ReadString(), r.ReadString(), r.ReadInt64(), r.ReadInt32(), Ref(r)),
        "rR" => new RoomMessages.HistoryRange(r.ReadString(), r.ReadString(), r.ReadInt64(), r.ReadInt64(), r.ReadBoolean()),
        "rE" => new RoomMessages.Entered(r.ReadString()),
        "rX" => new RoomMessages.Exited(r.ReadString()),
        "rN" => new RoomMessages.NotEntered(r.ReadString()),
        "rW" => new RoomMessages.StoreLine(r.ReadUInt32(), r.ReadString(), r.ReadString(), r.ReadInt64(), r.ReadString()),
        "rD" => new RoomMessages.Stored(r.ReadUInt32(), r.ReadInt64(), r.ReadInt64(), r.ReadBoolean()),
        "rF" => new RoomMessages.NotStored(r.ReadUInt32(), (WireCode)r.ReadUInt16(), r.ReadString()),
        "rB" => new RoomMessages.Scrollback(Ref(r), r.ReadInt64()),
        "rC" => new RoomMessages.ScrollbackSent(Ref(r), r.ReadInt64(), r.ReadInt64()),
        "rY" => new RoomMessages.Summary(r.ReadString(), r.ReadInt32(), r.ReadString(), r.ReadBoolean()),
        "rI" => new RoomMessages.List(Ref(r), r.ReadInt32()),
        "rK" => RoomMessages.Retain.Instance,
        "aO" => new AccountMessages.Online(r.ReadString(), Ref(r), Ref(r)),
        "aJ" => new AccountMessages.JoinRoom(r.ReadString(), r.ReadString(), Ref(r), Ref(r)),
        "aL" => new AccountMessages.LeaveRoom(r.ReadString(), r.ReadString(), Ref(r), Ref(r)),
        "aD" => Deliver(r),
        "aR" => new AccountMessages.ReplayDirect(new HistoryReplayActor.Request(r.ReadString(), r.ReadString(), r.ReadInt64(), r.ReadInt64(),
            r.ReadBoolean(), r.ReadInt64())),
        "aP" => new AccountMessages.Replayed(r.ReadInt64()),
        "aF" => new AccountMessages.Offline(Ref(r)),
        "aW" => new AccountMessages.Written(r.ReadInt64()),
        "nU" => new NameMessages.Use(r.ReadInt64(), r.ReadString(), r.ReadString()),
        "nA" => new NameMessages.UseAnswer(r.ReadInt64(), r.ReadBoolean(), r.ReadBoolean(), r.ReadString()),
        "nT" => new NameMessages.Touch(r.ReadString(), r.ReadString()),
        "nR" => new NameMessages.Release(r.ReadString(), r.ReadString()),
        "nF" => new NameMessages.Free(r.ReadString()),
        "nS" => new NameMessages.Status(r.ReadString(), r.ReadBoolean(), r.ReadString()),
        "nD" => new NameMessages.DeliverToOwner(r.ReadString(), Deliver(r)),
        _ => null,
    };

    private static void Join(BinaryWriter w, RoomMessages.Join j)
    {
        w.Write(j.Room);
        w.Write(j.Identity);
        w.Write(j.Name);
        Ref(w, j.Peer);
        Ref(w, j.Connection);
        w.Write(j.Rejoin);
        Ref(w, j.Account);
    }

    private RoomMessages.Join Join(BinaryReader r) =>
        new(r.ReadString(), r.ReadString(), r.ReadString(), Ref(r), Ref(r), r.ReadBoolean(), Ref(r));

    private static void Deliver(BinaryWriter w, AccountMessages.Deliver d)
    {
        w.Write(d.Id);
        w.Write(d.From);
        w.Write(d.To);
        w.Write(d.Text);
        w.Write(d.AtMs);
        w.Write(d.Key);
    }

    private static AccountMessages.Deliver Deliver(BinaryReader r) => new(r.ReadUInt32(), r.ReadString(), r.ReadString(), r.ReadString(), r.ReadInt64(), r.ReadString());

    /// <summary>A message inside another (an entity's, a connection's answer): its serializer, manifest and bytes, as Akka
    /// writes it, so that whatever a room or an account is sent can ride in an envelope.</summary>
    private void Nested(BinaryWriter w, object message)
    {
        var serializer = system.Serialization.FindSerializerFor(message);
        w.Write(serializer.Identifier);
        w.Write(Akka.Serialization.Serialization.ManifestFor(serializer, message));
        Bin(w, serializer.ToBinary(message));
    }

    private object Nested(BinaryReader r)
    {
        var id = r.ReadInt32();
        var manifest = r.ReadString();
        return system.Serialization.Deserialize(Bin(r), id, manifest)
            ?? throw new SerializationException($"a nested message ({id}, '{manifest}') read as nothing");
    }
}
