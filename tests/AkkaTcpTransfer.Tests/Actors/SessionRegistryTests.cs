using Akka.TestKit.Xunit2;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Server.Sessions;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Tests.Support;
using Xunit.Abstractions;
using AkkaTcpTransfer.Server.Lines;

namespace AkkaTcpTransfer.Tests.Actors;

/// <summary>The registry on its own, with probes for sessions and connections.</summary>
public sealed class SessionRegistryTests(ITestOutputHelper output) : TestKit("akka.loglevel = WARNING", output)
{
    private static NodeSettings Settings() => NodeSettings.Read(NodeConfig.Build(NodeRole.Server), NodeRole.Server);

    [Fact]
    public void The_welcome_is_followed_at_once_by_the_end_of_the_handshake_on_the_connection()
    {
        var registry = Sys.ActorOf(SessionRegistryActor.Props(Settings(), 10, FakeEntities.Start(Sys)));
        var connection = CreateTestProbe();
        registry.Tell(new SessionMessages.Join("alice", [], connection.Ref, 73728), TestActor);
        Assert.IsType<Welcome>(connection.ExpectMsg<ConnectionMessages.Send>().Frame);
        // From the same sender, so nothing (a violation, say) can be answered with Refused after the Welcome.
        connection.ExpectMsg<ConnectionMessages.HandshakeDone>();
        ExpectMsg<SessionMessages.Joined>();
    }

    [Fact]
    public void A_say_from_an_actor_that_is_no_session_speaks_for_nobody()
    {
        var registry = Sys.ActorOf(SessionRegistryActor.Props(Settings(), 10, FakeEntities.Start(Sys)));
        var bobConnection = CreateTestProbe();
        var bob = CreateTestProbe();
        registry.Tell(new SessionMessages.Join("bob", [], bobConnection.Ref, 73728), bob.Ref);
        bobConnection.ExpectMsg<ConnectionMessages.Send>();
        bobConnection.ExpectMsg<ConnectionMessages.HandshakeDone>();
        // A replaced or departed session's late message: not relayed as if the server had said it.
        var stranger = CreateTestProbe();
        registry.Tell(new SessionMessages.Say(1, "", "I am the server"), stranger.Ref);
        bobConnection.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        stranger.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void A_broadcast_beyond_the_fanout_allowance_is_deferred_not_refused_and_goes_once_the_allowance_is_back()
    {
        var settings = NodeSettings.Read(NodeConfig.Build(NodeRole.Server, [("limits.fanout-per-second", "10"), ("limits.fanout-burst", "2")]), NodeRole.Server);
        var now = TimeSpan.Zero;
        var registry = Sys.ActorOf(SessionRegistryActor.Props(settings, 10, FakeEntities.Start(Sys), clock: () => now));
        var connections = new List<Akka.TestKit.TestProbe>();
        var alice = CreateTestProbe();
        foreach (var name in new[] { "alice", "bob", "carol" })
        {
            var connection = CreateTestProbe();
            var peer = name == "alice" ? alice : CreateTestProbe();
            registry.Tell(new SessionMessages.Join(name, [], connection.Ref, 73728), peer.Ref);
            var welcome = Assert.IsType<Welcome>(connection.ExpectMsg<ConnectionMessages.Send>().Frame);
            Assert.Equal(settings.Limits.ChatPerSecond, welcome.Limits.ChatPerSecond);
            connections.Add(connection);
        }
        // Two recipients each time: the first line takes the whole burst (2), the second must wait 2 / 10 s.
        registry.Tell(new SessionMessages.Say(1, "", "first"), alice.Ref);
        Assert.Equal(1u, alice.FishForMessage<LineAnswers.SayDone>(_ => true).Id);
        registry.Tell(new SessionMessages.Say(2, "", "second"), alice.Ref);
        var deferred = alice.ExpectMsg<LineAnswers.SayDeferred>();
        Assert.Equal(2u, deferred.Id);
        Assert.InRange(deferred.Wait.TotalMilliseconds, 199.9, 200.1);
        // Nothing of it reached anyone yet.
        connections[2].FishForMessage(m => m is ConnectionMessages.SendEncoded e && Decode(e.Frame) is Protocol.Chat { Text: "first" });
        connections[2].ExpectNoMsg(TimeSpan.FromMilliseconds(50));
        // Asked again a moment too soon, it waits again; after the wait, it goes.
        now = TimeSpan.FromMilliseconds(150);
        registry.Tell(new SessionMessages.Say(2, "", "second"), alice.Ref);
        Assert.InRange(alice.ExpectMsg<LineAnswers.SayDeferred>().Wait.TotalMilliseconds, 49.9, 50.1);
        now = TimeSpan.FromMilliseconds(200);
        registry.Tell(new SessionMessages.Say(2, "", "second"), alice.Ref);
        Assert.Equal(2u, alice.ExpectMsg<LineAnswers.SayDone>().Id);
        connections[2].FishForMessage(m => m is ConnectionMessages.SendEncoded e && Decode(e.Frame) is Protocol.Chat { Text: "second" });
    }

    private static Frame Decode(byte[] bytes)
    {
        var frames = new List<Frame>();
        new FrameDecoder(1 << 20).Decode(bytes, frames);
        return Assert.Single(frames);
    }
}
