using Akka.TestKit.Xunit2;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Server.Sessions;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using Xunit.Abstractions;

namespace AkkaTcpTransfer.Tests.Actors;

/// <summary>The registry on its own, with probes for sessions and connections.</summary>
public sealed class SessionRegistryTests(ITestOutputHelper output) : TestKit("akka.loglevel = WARNING", output)
{
    private static NodeSettings Settings() => NodeSettings.Read(NodeConfig.Build(NodeRole.Server), NodeRole.Server);

    [Fact]
    public void The_welcome_is_followed_at_once_by_the_end_of_the_handshake_on_the_connection()
    {
        var registry = Sys.ActorOf(SessionRegistryActor.Props(Settings(), 10));
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
        var registry = Sys.ActorOf(SessionRegistryActor.Props(Settings(), 10));
        var bobConnection = CreateTestProbe();
        var bob = CreateTestProbe();
        registry.Tell(new SessionMessages.Join("bob", [], bobConnection.Ref, 73728), bob.Ref);
        bobConnection.ExpectMsg<ConnectionMessages.Send>();
        bobConnection.ExpectMsg<ConnectionMessages.HandshakeDone>();
        // A replaced or departed session's late message: not relayed as if the server had said it.
        var stranger = CreateTestProbe();
        registry.Tell(new SessionMessages.Say("", "I am the server"), stranger.Ref);
        bobConnection.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }
}
