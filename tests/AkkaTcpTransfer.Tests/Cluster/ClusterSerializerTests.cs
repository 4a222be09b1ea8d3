using System.Runtime.Serialization;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using AkkaTcpTransfer.Cluster;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Server.Relay;
using AkkaTcpTransfer.Server.Sessions;
using Xunit.Abstractions;
using AkkaTcpTransfer.Server.Lines;

namespace AkkaTcpTransfer.Tests.Cluster;

/// <summary>Every message that crosses between server nodes survives <see cref="ClusterSerializer"/>; bytes that are not
/// one are refused with a <see cref="SerializationException"/> (Akka drops that message and keeps the link).</summary>
public sealed class ClusterSerializerTests(ITestOutputHelper output) : TestKit("akka.loglevel = WARNING", output)
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
        Assert.Equal(session, Assert.Single(hello.Sessions));
        Assert.Equal(new ClusterMessages.SessionDown("bob", peer), RoundTrip(new ClusterMessages.SessionDown("bob", peer)));
        Assert.Equal(new ClusterMessages.Broadcast("a", 42, "hé 🎉"), RoundTrip(new ClusterMessages.Broadcast("a", 42, "hé 🎉")));
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
        Assert.Equal(new LineAnswers.SayDone(uint.MaxValue, 1_700_000_000_123), RoundTrip(new LineAnswers.SayDone(uint.MaxValue, 1_700_000_000_123)));
        Assert.Equal(new Server.Federation.FederationMessages.Direct(8, "a", "b", 42, "hé"), RoundTrip(new Server.Federation.FederationMessages.Direct(8, "a", "b", 42, "hé")));

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
}
