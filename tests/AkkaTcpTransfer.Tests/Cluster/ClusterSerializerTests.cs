using System.Runtime.Serialization;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using AkkaTcpTransfer.Cluster;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Server.Relay;
using AkkaTcpTransfer.Server.Sessions;
using Xunit.Abstractions;
using AkkaTcpTransfer.Server.Accounts;
using AkkaTcpTransfer.Server.Entities;
using AkkaTcpTransfer.Server.Federation;
using AkkaTcpTransfer.Server.Lines;
using AkkaTcpTransfer.Server.Names;
using AkkaTcpTransfer.Server.Replay;
using AkkaTcpTransfer.Server.Rooms;
using AkkaTcpTransfer.Tcp;

namespace AkkaTcpTransfer.Tests.Cluster;

/// <summary>Every message that crosses between server nodes survives <see cref="ClusterSerializer"/>; bytes that are not
/// one are refused with a <see cref="SerializationException"/> (Akka drops that message and keeps the link).</summary>
public sealed class ClusterSerializerTests(ITestOutputHelper output)
    : TestKit(Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = WARNING").WithFallback(ClusterConfig.Serialization), output: output)
{
    private ClusterSerializer Serializer => new((ExtendedActorSystem)Sys);

    private object RoundTrip(object message)
    {
        var serializer = Serializer;
        return serializer.FromBinary(serializer.ToBinary(message), serializer.Manifest(message));
    }

    [Fact]
    public void Messages_between_nodes_come_back_equal()
    {
        var peer = CreateTestProbe().Ref;
        var session = new ClusterMessages.RemoteSession("alice", peer, 73728, [1, 2, 3]);
        var registry = CreateTestProbe().Ref;
        var hello = (ClusterMessages.NodeHello)RoundTrip(new ClusterMessages.NodeHello(3, [1, 2, 3], 2, true, [session], registry, "10.0.0.7", 7422));
        Assert.Equal((3, 2, true, "10.0.0.7", 7422, registry), (hello.ProtocolVersion, hello.Part, hello.Last, hello.LinkHost, hello.LinkPort, hello.Registry));
        Assert.Equal([1, 2, 3], hello.TokenKey);
        var back = Assert.Single(hello.Sessions);
        Assert.Equal((session.Name, session.Peer, session.MaxFrame), (back.Name, back.Peer, back.MaxFrame));
        Assert.Equal(session.Identity, back.Identity);
        Assert.Equal(new ClusterMessages.SessionDown("bob", peer), RoundTrip(new ClusterMessages.SessionDown("bob", peer)));
        Assert.Equal(new ClusterMessages.Broadcast("a", 42, "hé 🎉", 9), RoundTrip(new ClusterMessages.Broadcast("a", 42, "hé 🎉", 9)));
        Assert.Equal(new ClusterMessages.ClaimAnswer(7, false, "taken"), RoundTrip(new ClusterMessages.ClaimAnswer(7, false, "taken")));
        Assert.Same(ClusterMessages.RebuildRequest.Instance, RoundTrip(ClusterMessages.RebuildRequest.Instance));
        var holding = (ClusterMessages.Holding)RoundTrip(new ClusterMessages.Holding([new("dana", [7], 12)], Last: false));
        Assert.False(holding.Last);
        Assert.Equal(("dana", 12L), (holding.Names[0].Name, holding.Names[0].Claim));
        var release = (ClusterMessages.Release)RoundTrip(new ClusterMessages.Release("dana", [7], 12));
        Assert.Equal(("dana", 12L), (release.Name, release.Claim));
        Assert.Equal(new ClusterMessages.ResendSession("erin"), RoundTrip(new ClusterMessages.ResendSession("erin")));
        var reconcile = (ClusterMessages.Reconcile)RoundTrip(new ClusterMessages.Reconcile([new("dana", [7], 12)], 40, Last: true));
        Assert.Equal((40L, true, "dana", 12L), (reconcile.UpTo, reconcile.Last, reconcile.Names[0].Name, reconcile.Names[0].Claim));
        var claim = (ClusterMessages.Claim)RoundTrip(new ClusterMessages.Claim(9, "carol", [9, 9]));
        Assert.Equal((9L, "carol"), (claim.Request, claim.Name));
        Assert.Equal([9, 9], claim.Identity);
        Assert.Equal(new LineAnswers.SayFailed(3, WireCode.UnknownPeer, "no one"), RoundTrip(new LineAnswers.SayFailed(3, WireCode.UnknownPeer, "no one")));
        Assert.Equal(new LineAnswers.SayDone(uint.MaxValue, 1_700_000_000_123, Held: true), RoundTrip(new LineAnswers.SayDone(uint.MaxValue, 1_700_000_000_123, Held: true)));
        Assert.Equal(new LineAnswers.SayDeferred(4, TimeSpan.FromMilliseconds(250)), RoundTrip(new LineAnswers.SayDeferred(4, TimeSpan.FromMilliseconds(250))));

        var data = Enumerable.Range(0, 65536).Select(i => (byte)i).ToArray();
        var chunk = (Chunk)((RelayMessages.RelayFrame)RoundTrip(new RelayMessages.RelayFrame(new Chunk(5, 1L << 33, data)))).Frame;
        Assert.Equal((5u, 1L << 33), (chunk.Id, chunk.Offset));
        Assert.Equal(data, chunk.Data.ToArray());
        var offer = (RelayMessages.RelayOffer)RoundTrip(new RelayMessages.RelayOffer(new Offer(4, "alice", [1], "bob", "f.bin", 10, 0), peer));
        Assert.Equal(("f.bin", peer), (offer.Offer.File, offer.SenderPeer));
    }

    [Fact]
    public void Bytes_that_are_no_message_are_refused_with_a_serialization_error()
    {
        var serializer = Serializer;
        Assert.Throws<SerializationException>(() => serializer.FromBinary([1, 2], "H"));
        Assert.Throws<SerializationException>(() => serializer.FromBinary([0, 0, 0, 1, 99], "f"));
        Assert.Throws<SerializationException>(() => serializer.FromBinary([], "?"));
        var frame = serializer.ToBinary(new RelayMessages.RelayFrame(new Ack(1, 100)));
        Assert.Throws<SerializationException>(() => serializer.FromBinary(frame[..^1], "f"));
    }

    /// <summary>One of every message of rooms, accounts and the name registry that may cross nodes.</summary>
    private List<object> EntityMessages()
    {
        var a = CreateTestProbe().Ref;
        var b = CreateTestProbe().Ref;
        var c = CreateTestProbe().Ref;
        var join = new RoomMessages.Join("#café", "00ff", "alice", a, b, true, c);
        var deliver = new AccountMessages.Deliver(7, "bob", "alice", "hé 🎉", 1_700_000_000_123, "0a1b:7");
        return
        [
            new EntityEnvelope("room:café", new RoomMessages.Say(3, "#café", "00ff", "alice", "line", "0a1b")),
            new EntityEnvelope("user:00ff", deliver),
            new ConnectionMessages.Post(new Protocol.Chat("bob", "#café", 5, "hi"), new AccountMessages.Written(12)),
            new ConnectionMessages.Post(new Protocol.Chat("bob", "#café", 5, "hi")),
            join,
            new RoomMessages.Open(join),
            new RoomMessages.Leave("#café", "00ff", "alice", a, b, c),
            new RoomMessages.Settled("#café"),
            new RoomMessages.Say(uint.MaxValue, "#café", "00ff", "alice", "text"),
            new RoomMessages.SetTopic("#café", "00ff", "alice", "topic", b),
            new RoomMessages.Members("#café", b, 70_000),
            new RoomMessages.History("#café", "00ff", 120, 50, b),
            new RoomMessages.HistoryRange("#café", "room:café", 70, 119, true),
            new RoomMessages.Entered("#café"),
            new RoomMessages.Exited("#café"),
            new RoomMessages.NotEntered("#café"),
            new RoomMessages.StoreLine(9, "alice", "all", 42, "0a1b:9"),
            new RoomMessages.Stored(9, 42, 77),
            new RoomMessages.Stored(9, 42, 77, Repeat: true),
            new RoomMessages.ScrollbackSent(b, 1_700_000_000_000, 77),
            new RoomMessages.NotStored(9, WireCode.NotStored, "full"),
            new RoomMessages.Scrollback(b, long.MaxValue),
            new RoomMessages.Summary("#café", 3, "topic", true),
            new RoomMessages.List(b, 70_000),
            RoomMessages.Retain.Instance,
            new AccountMessages.Online("alice", a, b),
            new AccountMessages.JoinRoom("#café", "alice", a, b),
            new AccountMessages.LeaveRoom("#café", "alice", a, b),
            deliver,
            new AccountMessages.ReplayDirect(new HistoryReplayActor.Request("alice", "user:00ff", 3, 9, false, 1_700_000_000_000)),
            new AccountMessages.Replayed(9),
            new AccountMessages.Offline(a),
            new AccountMessages.Written(12),
            new NameMessages.Use(5, "alice", "00ff"),
            new NameMessages.UseAnswer(5, true, false, "full"),
            new NameMessages.Touch("alice", "00ff"),
            new NameMessages.Release("alice", "00ff"),
            new NameMessages.Free("alice"),
            new NameMessages.Status("alice", false, "released"),
            new NameMessages.DeliverToOwner("alice", deliver),
        ];
    }

    [Fact]
    public void Every_room_account_and_name_message_comes_back_equal()
    {
        foreach (var message in EntityMessages())
        {
            var back = RoundTrip(message);
            if (message is ConnectionMessages.PostEncoded encoded) Assert.Equal(encoded.Frame, ((ConnectionMessages.PostEncoded)back).Frame);
            else Assert.Equal(message, back);
        }
        var bytes = new byte[] { 0, 0, 0, 1, 4 };
        Assert.Equal(bytes, ((ConnectionMessages.PostEncoded)RoundTrip(new ConnectionMessages.PostEncoded(bytes))).Frame);
    }

    [Fact]
    public void Every_message_that_may_cross_nodes_is_among_those_tried()
    {
        var tried = EntityMessages().Select(m => m.GetType()).Concat([typeof(ConnectionMessages.PostEncoded)]).ToHashSet();
        var entityKinds = typeof(ICrossNodeMessage).Assembly.GetTypes()
            .Where(t => typeof(ICrossNodeMessage).IsAssignableFrom(t) && !t.IsInterface && !t.IsAbstract)
            .Where(t => t.Namespace is "AkkaTcpTransfer.Server.Rooms" or "AkkaTcpTransfer.Server.Accounts" or "AkkaTcpTransfer.Server.Names"
                or "AkkaTcpTransfer.Server.Entities" or "AkkaTcpTransfer.Tcp");
        Assert.Empty(entityKinds.Where(t => !tried.Contains(t)).Select(t => t.FullName));
    }
}
