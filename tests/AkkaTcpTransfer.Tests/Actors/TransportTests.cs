using System.Net;
using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Security;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Tests.Support;
using Xunit.Abstractions;

namespace AkkaTcpTransfer.Tests.Actors;

/// <summary>Two connection actors joined by an in-memory stand-in for Akka.IO (<see cref="MemoryTcp"/>) that delivers
/// the byte stream in pieces as small as one byte: the same frames cross intact over both transports, plain and TLS,
/// whatever the cuts, and a close says goodbye through TLS before its close_notify.</summary>
public sealed class TransportTests(ITestOutputHelper output) : TestKit("akka.loglevel = WARNING", output), IDisposable
{
    private static readonly EndPoint ServerEnd = new IPEndPoint(IPAddress.Loopback, 7420);
    private static readonly EndPoint ClientEnd = new IPEndPoint(IPAddress.Loopback, 50000);
    private readonly string _state = Directory.CreateTempSubdirectory("att-transport-").FullName;

    private static NodeSettings Settings(NodeRole role) =>
        NodeSettings.Read(NodeConfig.Build(role, role == NodeRole.Client ? [("name", "alice")] : []), role);

    private (IActorRef Client, TestProbe ClientOwner, IActorRef Server, TestProbe ServerOwner) Pair(int readSize, bool tls)
    {
        var clientTcp = Sys.ActorOf(MemoryTcp.Props(readSize));
        var serverTcp = Sys.ActorOf(MemoryTcp.Props(readSize));
        clientTcp.Tell(new MemoryTcp.Peer(serverTcp));
        serverTcp.Tell(new MemoryTcp.Peer(clientTcp));
        ConnectionSecurity.Server? server = null;
        ConnectionSecurity.Client? client = null;
        if (tls)
        {
            var identity = ServerIdentity.LoadOrCreate(_state, []);
            server = new ConnectionSecurity.Server(identity);
            var known = new KnownServers(Path.Combine(_state, "known_servers"));
            client = new ConnectionSecurity.Client("127.0.0.1", new ServerTrust("127.0.0.1", 7420, known, identity.Fingerprint, trustOnFirstUse: false, customRoots: null));
        }
        var serverOwner = CreateTestProbe();
        var clientOwner = CreateTestProbe();
        var serverStub = Sys.ActorOf(OwnerStub.Props(ConnectionActor.Accepted(serverTcp, ClientEnd, Settings(NodeRole.Server), server), serverOwner.Ref));
        var clientStub = Sys.ActorOf(OwnerStub.Props(ConnectionActor.Connected(clientTcp, ServerEnd, ClientEnd, Settings(NodeRole.Client), client), clientOwner.Ref));
        var serverConnection = serverStub.Ask<IActorRef>("connection", TimeSpan.FromSeconds(5)).Result;
        var clientConnection = clientStub.Ask<IActorRef>("connection", TimeSpan.FromSeconds(5)).Result;
        return (clientConnection, clientOwner, serverConnection, serverOwner);
    }

    private static Frame Next(TestProbe owner) => owner.FishForMessage<ConnectionMessages.FrameReceived>(_ => true, TimeSpan.FromSeconds(20)).Frame;

    [Theory]
    [InlineData(1, true)]
    [InlineData(7, true)]
    [InlineData(65536, true)]
    [InlineData(1, false)]
    [InlineData(7, false)]
    public void Frames_cross_intact_in_order_whatever_the_cuts_and_a_goodbye_arrives_before_the_close(int readSize, bool tls)
    {
        var (client, clientOwner, server, serverOwner) = Pair(readSize, tls);
        var established = clientOwner.ExpectMsg<ConnectionMessages.Established>(TimeSpan.FromSeconds(20));
        if (tls)
        {
            Assert.NotNull(established.Tls);
            Assert.Equal("TLSv1.3", established.Tls!.Protocol);
            Assert.Equal("akt/1", established.Tls.ApplicationProtocol);
            Assert.Equal(TrustBasis.GivenFingerprint, established.Tls.Trust);
        }
        else
        {
            Assert.Null(established.Tls);
        }

        client.Tell(new ConnectionMessages.Send(new Hello(ProtocolLimits.Version, 73728, "alice", "", [])));
        Assert.Equal("alice", Assert.IsType<Hello>(Next(serverOwner)).Name);
        server.Tell(new ConnectionMessages.Send(new Welcome(ProtocolLimits.Version, 73728, "server", "alice", new byte[32], true, new ClientLimits(20, 200, 1, 5, 1000, 2000, 5, 20, 2, 5), ["server", "alice"])));
        Assert.IsType<Welcome>(Next(clientOwner));
        client.Tell(ConnectionMessages.HandshakeDone.Instance);
        server.Tell(ConnectionMessages.HandshakeDone.Instance);

        // File data that spans many TLS records and reads, interleaved with chat; each chunk distinct.
        var chunks = Enumerable.Range(0, readSize == 1 ? 2 : 8).Select(i =>
        {
            var data = new byte[readSize == 1 ? 20_000 : 65_536];
            new Random(i).NextBytes(data);
            return data;
        }).ToList();
        for (var i = 0; i < chunks.Count; i++)
        {
            client.Tell(new ConnectionMessages.Send(new Chunk(5, (long)i * chunks[i].Length, chunks[i])));
            client.Tell(new ConnectionMessages.Send(new Say((uint)i, "", $"line {i}")));
        }
        var lines = 0;
        var received = 0;
        while (lines < chunks.Count || received < chunks.Count)
        {
            switch (Next(serverOwner))
            {
                case Chunk c:
                    Assert.Equal(chunks[received], c.Data.ToArray());
                    received++;
                    c.Release();
                    break;
                case Say s:
                    Assert.Equal($"line {lines}", s.Text);
                    lines++;
                    break;
            }
        }

        // A close from the client: its Goodbye reaches the server first, then the connection ends at both.
        client.Tell(new ConnectionMessages.Close(WireCode.Normal, "bye now"));
        var closed = serverOwner.FishForMessage<ConnectionMessages.Closed>(_ => true, TimeSpan.FromSeconds(20));
        Assert.Equal(WireCode.Normal, closed.PeerCode);
        Assert.Contains("bye now", closed.Reason, StringComparison.Ordinal);
        clientOwner.FishForMessage<ConnectionMessages.Closed>(_ => true, TimeSpan.FromSeconds(20));
    }

    [Fact]
    public void A_client_that_does_not_trust_the_key_fails_to_connect_and_says_why()
    {
        var clientTcp = Sys.ActorOf(MemoryTcp.Props(1024));
        var serverTcp = Sys.ActorOf(MemoryTcp.Props(1024));
        clientTcp.Tell(new MemoryTcp.Peer(serverTcp));
        serverTcp.Tell(new MemoryTcp.Peer(clientTcp));
        var identity = ServerIdentity.LoadOrCreate(_state, []);
        var wrong = new string('1', 64);
        var trust = new ServerTrust("127.0.0.1", 7420, new KnownServers(Path.Combine(_state, "known_servers")), wrong, false, null);
        var serverOwner = CreateTestProbe();
        var clientOwner = CreateTestProbe();
        Sys.ActorOf(OwnerStub.Props(ConnectionActor.Accepted(serverTcp, ClientEnd, Settings(NodeRole.Server), new ConnectionSecurity.Server(identity)), serverOwner.Ref));
        Sys.ActorOf(OwnerStub.Props(ConnectionActor.Connected(clientTcp, ServerEnd, ClientEnd, Settings(NodeRole.Client),
            new ConnectionSecurity.Client("127.0.0.1", trust)), clientOwner.Ref));
        var failed = clientOwner.FishForMessage<ConnectionMessages.ConnectFailed>(_ => true, TimeSpan.FromSeconds(20));
        Assert.Equal(TrustProblem.Mismatch, failed.Trust);
        Assert.Equal(identity.Fingerprint, failed.Fingerprint);
        Assert.Contains(wrong, failed.Reason, StringComparison.Ordinal);
        // The server end learns the connection ended, without any frame having reached it.
        serverOwner.FishForMessage<ConnectionMessages.Closed>(_ => true, TimeSpan.FromSeconds(20));
    }

    void IDisposable.Dispose()
    {
        Shutdown();
        Directory.Delete(_state, recursive: true);
    }
}
