using System.Diagnostics;
using Akka.Actor;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Tests.Support;

namespace AkkaTcpTransfer.Tests.Cluster;

/// <summary>Three server nodes (three actor systems in this process, on 127.0.0.1, port 0 for clients and for the
/// cluster) form one Akka.Cluster; clients on different nodes chat, see each other, are kept to unique names and send
/// each other files, as they would through one server.</summary>
public sealed class ClusterTests : NodesAndFiles
{
    private readonly List<(ServerNode Node, EventLog Log)> _servers = [];

    /// <summary>Quick failure detection: a node that stops answering is removed after a few seconds instead of the
    /// about 25 s that Akka's own defaults took when we measured three node processes and killed one.</summary>
    internal static readonly (string, string)[] ClusterFast =
    [
        ("cluster.enabled", "on"),
        ("cluster.port", "0"),
        ("cluster.heartbeat-interval", "500ms"),
        ("cluster.acceptable-heartbeat-pause", "2s"),
        ("cluster.stable-after", "3s"),
        // A new node's proxy may take a second or two to find the name directory: the defaults' room, not the tests' 2 s.
        ("server.handshake-timeout", "5s"),
        ("cluster.claim-timeout", "4s"),
        // Every node of a test stops at once; none waits long for the others to see it leave.
        ("akka.coordinated-shutdown.phases.cluster-exiting.timeout", "1s"),
        // These tests are about names held online across nodes (the cluster's name directory). Registered names would
        // refuse a second identity before the directory is even asked: they are tested on their own (ClusterRoomTests).
        ("names.max-registered", "0"),
    ];

    public override async Task InitializeAsync()
    {
        // One identity for the whole cluster (as docs/OPERATIONS.md advises): a client trusts every node by one
        // fingerprint.
        (string, string) identity = ("state-dir", Files.Dir("server-state"));
        var first = await Nodes.StartServer([.. ClusterFast, identity]);
        _servers.Add(first);
        var seed = $"127.0.0.1:{ClusterPort(first.Node)}";
        var rest = await Task.WhenAll(
            Nodes.StartServer([.. ClusterFast, identity, ("cluster.seeds", seed)]),
            Nodes.StartServer([.. ClusterFast, identity, ("cluster.seeds", seed)]));
        _servers.AddRange(rest);
        foreach (var (_, log) in _servers)
            await log.WaitFor<ClusterMemberChanged>(_ => _servers.All(s => log.All<ClusterMemberChanged>().Any(m => m.Status == "up" && m.Node.EndsWith($":{ClusterPort(s.Node)}", StringComparison.Ordinal))));
    }

    internal static int ClusterPort(ServerNode node) => Akka.Cluster.Cluster.Get(node.System).SelfAddress.Port!.Value;

    private int Port(int node) => _servers[node].Node.Port;

    private Task<AkkaTcpTransfer.Cluster.NodeLinksActor.Stats> LinkStats(int node) =>
        _servers[node].Node.System.ActorSelection("/user/server/links")
            .Ask<AkkaTcpTransfer.Cluster.NodeLinksActor.Stats>(AkkaTcpTransfer.Cluster.NodeLinksActor.GetStats.Instance, TimeSpan.FromSeconds(5));

    [Fact]
    public async Task Nodes_start_as_one_cluster_and_report_their_members_as_events()
    {
        foreach (var (node, log) in _servers)
        {
            var self = log.All<ClusterMemberChanged>().Single(m => m.Self && m.Status == "up");
            Assert.Equal($"127.0.0.1:{ClusterPort(node)}", self.Node);
            Assert.Equal(3, log.All<ClusterMemberChanged>().Where(m => m.Status == "up").Select(m => m.Node).Distinct().Count());
        }
    }

    [Fact]
    public async Task Chat_presence_and_who_span_the_nodes()
    {
        var alice = await Nodes.StartClient("alice", Port(0));
        var bob = await Nodes.StartClient("bob", Port(1));
        await alice.Log.WaitFor<PeerJoined>(p => p.Name == "bob");
        var carol = await Nodes.StartClient("carol", Port(2));
        await alice.Log.WaitFor<PeerJoined>(p => p.Name == "carol");
        await bob.Log.WaitFor<PeerJoined>(p => p.Name == "carol");
        // carol arrived last: she knows the clients of the other two nodes, from her Welcome or, for one whose news has
        // not yet reached her node (each node tells each other node on its own connection), at once after it.
        var welcome = await carol.Log.WaitFor<Connected>();
        foreach (var other in new[] { "alice", "bob" })
            if (!welcome.Online!.Contains(other)) await carol.Log.WaitFor<PeerJoined>(p => p.Name == other);

        alice.Node.Commands.Tell(new NodeCommands.Say("hello from node 0"));
        var atBob = await bob.Log.WaitFor<ChatReceived>(c => c.Text == "hello from node 0");
        var atCarol = await carol.Log.WaitFor<ChatReceived>(c => c.Text == "hello from node 0");
        Assert.Equal(("alice", (string?)null), (atBob.From, atBob.To));
        Assert.Equal(atBob.At, atCarol.At);
        // Every node's operator sees a broadcast, as one server's would.
        foreach (var (_, log) in _servers) await log.WaitFor<ChatReceived>(c => c.Text == "hello from node 0");

        bob.Node.Commands.Tell(new NodeCommands.SayTo("Carol", "just for carol"));
        var direct = await carol.Log.WaitFor<ChatReceived>(c => c.Text == "just for carol");
        Assert.Equal(("bob", "carol"), (direct.From, direct.To));
        // Confirmed to bob by carol's node, with the time carol sees.
        Assert.Equal(direct.At, (await bob.Log.WaitFor<ChatSent>(s => s.Text == "just for carol")).At);

        var mark = alice.Log.Mark();
        alice.Node.Commands.Tell(NodeCommands.Who.Instance);
        var who = await alice.Log.WaitFor<WhoListed>(after: mark);
        Assert.Equal(["server", "alice", "bob", "carol"], who.Names);

        await carol.Node.StopAsync();
        await alice.Log.WaitFor<PeerLeft>(p => p.Name == "carol");
        await bob.Log.WaitFor<PeerLeft>(p => p.Name == "carol");
        mark = alice.Log.Mark();
        alice.Node.Commands.Tell(new NodeCommands.SayTo("carol", "are you there?"));
        var notSent = await alice.Log.WaitFor<ChatNotSent>(after: mark);
        Assert.Contains("no one named 'carol' is online", notSent.Reason);
        Assert.DoesNotContain(bob.Log.All<ChatReceived>(), c => c.Text == "are you there?");
    }

    [Fact]
    public async Task A_name_is_granted_once_in_the_cluster_even_when_two_nodes_are_asked_at_the_same_moment()
    {
        for (var round = 0; round < 5; round++)
        {
            // The same name in two spellings, and a look-alike, asked of three nodes at once.
            var names = new[] { $"dana{round}", $"DANA{round}", $"dana{round}".Replace('a', 'а') };
            var attempts = names.Select((name, i) => TryJoin(name, Port(i))).ToList();
            var outcomes = await Task.WhenAll(attempts);
            var admitted = outcomes.Where(o => o.Node is not null).ToList();
            Assert.Single(admitted);
            foreach (var refused in outcomes.Where(o => o.Node is null))
                Assert.Matches("is already taken|looks like", refused.Error!);
        }
    }

    private async Task<(ClientNode? Node, string? Error)> TryJoin(string name, int port)
    {
        try
        {
            var (node, _) = await Nodes.StartClient(name, port, ("client.reconnect.enabled", "off"));
            return (node, null);
        }
        catch (NodeStartException e)
        {
            return (null, e.Message);
        }
    }

    [Fact]
    public async Task A_file_crosses_nodes_verified_and_a_cancel_ends_it_at_both_ends()
    {
        var alice = await Nodes.StartClient("alice", Port(0));
        var bob = await Nodes.StartClient("bob", Port(2), ("downloads", Files.Dir("bob")));
        await alice.Log.WaitFor<PeerJoined>(p => p.Name == "bob");

        var source = Files.Create("src/across.bin", 6_000_000, seed: 12);
        alice.Node.Commands.Tell(new NodeCommands.SendFile("bob", source));
        var received = await bob.Log.WaitFor<TransferCompleted>(c => c.File == "across.bin", timeout: TimeSpan.FromSeconds(60));
        await alice.Log.WaitFor<TransferCompleted>(c => c.Id == received.Id, timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(Files.Sha256(source), Files.Sha256(received.Path));
        Assert.Equal(Files.Sha256(source), received.Sha256);
        // The bytes went node to node over the plain TCP link, not Akka.Remote: about a hundred 64 KiB chunks at least.
        Assert.True((await LinkStats(0)).MessagesSent >= 90, $"sent through the link: {(await LinkStats(0)).MessagesSent}");
        Assert.True((await LinkStats(2)).MessagesReceived >= 90, $"received from the link: {(await LinkStats(2)).MessagesReceived}");

        // A big file, cancelled by its sender once bytes flow: both ends end it and no file lands under its name.
        var big = Files.Create("src/big.bin", 200_000_000, seed: 13);
        alice.Node.Commands.Tell(new NodeCommands.SendFile("bob", big));
        var progress = await bob.Log.WaitFor<TransferProgress>(p => p.File == "big.bin" && p.Bytes > 0, timeout: TimeSpan.FromSeconds(30));
        var sending = await alice.Log.WaitFor<TransferStarted>(t => t.File == "big.bin");
        alice.Node.Commands.Tell(new NodeCommands.CancelTransfer(sending.Id));
        await alice.Log.WaitFor<TransferCancelled>(c => c.Id == sending.Id);
        await bob.Log.WaitFor<TransferCancelled>(c => c.File == "big.bin");
        Assert.False(File.Exists(Path.Combine(Files.Dir("bob"), "big.bin")));
        Assert.DoesNotContain(bob.Log.All<TransferCompleted>(), c => c.File == "big.bin");
        Assert.True(progress.Bytes < progress.Total);
    }

    [Fact]
    public async Task A_lost_node_frees_its_names_fails_its_relays_and_its_clients_come_back_on_another_node()
    {
        Nodes.ExpectErrors = true; // the aborted node's peers log the broken association
        var alice = await Nodes.StartClient("alice", Port(0), ("downloads", Files.Dir("alice")));
        // carol knows two nodes of the server: 2 first, then 1.
        var carol = await Nodes.StartClient("carol", Port(2), ("client.servers", $"127.0.0.1:{Port(1)}"), ("downloads", Files.Dir("carol")));
        var bob = await Nodes.StartClient("bob", Port(2), ("client.reconnect.enabled", "off"));
        await alice.Log.WaitFor<PeerJoined>(p => p.Name == "bob");
        await alice.Log.WaitFor<PeerJoined>(p => p.Name == "carol");

        var big = Files.Create("src/through.bin", 200_000_000, seed: 21);
        alice.Node.Commands.Tell(new NodeCommands.SendFile("carol", big));
        await carol.Log.WaitFor<TransferProgress>(p => p.File == "through.bin" && p.Bytes > 0, timeout: TimeSpan.FromSeconds(30));
        var sending = await alice.Log.WaitFor<TransferStarted>(t => t.File == "through.bin");
        var carolMark = carol.Log.Mark();
        var aliceMark = alice.Log.Mark();

        var lost = Stopwatch.StartNew();
        ((ExtendedActorSystem)_servers[2].Node.System).Abort();

        // The relay through the lost node fails at the sender; nothing lands under the final name at the receiver.
        var failed = await alice.Log.WaitFor<TransferFailed>(f => f.Id == sending.Id, after: aliceMark, timeout: TimeSpan.FromSeconds(30));
        await carol.Log.WaitFor<TransferFailed>(f => f.File == "through.bin", after: carolMark, timeout: TimeSpan.FromSeconds(30));
        Assert.False(File.Exists(Path.Combine(Files.Dir("carol"), "through.bin")));

        // carol is back by herself, on node 1, under her name (her identity takes it over at once).
        var back = await carol.Log.WaitFor<Connected>(after: carolMark, timeout: TimeSpan.FromSeconds(10));
        Assert.Equal("carol", back.Name);
        var backAfter = lost.Elapsed;

        // bob does not come back: his name is free for someone else, on any node.
        await alice.Log.WaitFor<PeerLeft>(p => p.Name == "bob", after: aliceMark, timeout: TimeSpan.FromSeconds(20));
        // The name is freed by the cluster's name directory, which learns of the lost node on its own (no event says
        // when, and it may come a moment after alice heard bob leave): each attempt is a new join.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            try
            {
                var newBob = await Nodes.StartClient("bob", Port(1));
                Assert.Equal("bob", newBob.Node.Name);
                break;
            }
            catch (NodeStartException e) when (DateTime.UtcNow < deadline)
            {
                Assert.Contains("already taken", e.Message, StringComparison.Ordinal);
            }
        }

        // A resend resumes where the lost relay stopped, now through node 1.
        var resumeMark = carol.Log.Mark();
        alice.Node.Commands.Tell(new NodeCommands.SendFile("carol", big));
        var started = await carol.Log.WaitFor<TransferStarted>(t => t.File == "through.bin", after: resumeMark, timeout: TimeSpan.FromSeconds(30));
        var done = await carol.Log.WaitFor<TransferCompleted>(c => c.File == "through.bin", after: resumeMark, timeout: TimeSpan.FromSeconds(120));
        Assert.True(started.Offset > 0, $"resumed at {started.Offset}");
        Assert.Equal(Files.Sha256(big), Files.Sha256(done.Path));
        Assert.True(backAfter < TimeSpan.FromSeconds(10), $"carol was back after {backAfter}");
        Assert.NotEmpty(failed.Reason);
    }

    [Fact]
    public async Task A_node_with_another_token_is_refused_and_says_why_and_the_cluster_carries_on()
    {
        Nodes.ExpectErrors = true; // the refusal is logged as an error on the refused node
        var seed = $"127.0.0.1:{ClusterPort(_servers[0].Node)}";
        var refused = await Assert.ThrowsAsync<NodeStartException>(() =>
            Nodes.StartServer([.. ClusterFast, ("cluster.seeds", seed), ("token", "not-the-cluster-token")]));
        Assert.Equal(StartFailure.ClusterJoin, refused.Kind);
        Assert.Contains("different token", refused.Message);

        // The three go on serving: a client of node 0 and one of node 1 still meet.
        var alice = await Nodes.StartClient("alice", Port(0));
        await Nodes.StartClient("bob", Port(1));
        await alice.Log.WaitFor<PeerJoined>(p => p.Name == "bob");
    }

    [Fact]
    public async Task A_seed_that_is_no_cluster_node_fails_the_start_with_a_clear_reason()
    {
        // The seed named is a client port of a server (TLS with the server's own key, not the cluster's): found at once,
        // before any join, and said as it is.
        var wrong = $"127.0.0.1:{Port(0)}";
        var failed = await Assert.ThrowsAsync<NodeStartException>(() =>
            Nodes.StartServer([.. ClusterFast, ("cluster.seeds", wrong), ("cluster.join-timeout", "3s")]));
        Assert.Equal(StartFailure.ClusterJoin, failed.Kind);
        Assert.Contains($"cannot join the cluster at {wrong}: it presents another cluster key", failed.Message, StringComparison.Ordinal);
    }

    private static byte[] WellFormedMessage(ServerNode node)
    {
        var serializer = new AkkaTcpTransfer.Cluster.ClusterSerializer((ExtendedActorSystem)node.System);
        var message = new AkkaTcpTransfer.Cluster.ClusterMessages.Broadcast("intruder", 0, "hello", 1);
        var target = $"{Akka.Cluster.Cluster.Get(node.System).SelfAddress}/user/server/cluster/replica";
        return Protocol.FrameEncoder.Encode(new Protocol.LinkMessage(serializer.Manifest(message), target, "", serializer.ToBinary(message)));
    }

    [Fact]
    public async Task A_node_with_another_cluster_key_is_refused_at_the_tls_layer_and_told_why()
    {
        Nodes.ExpectErrors = true; // the refused TLS connections are logged by DotNetty on both ends
        var seed = $"127.0.0.1:{ClusterPort(_servers[0].Node)}";
        var (otherCertificate, otherKey) = TestNodes.NewClusterKey();
        var refusedLogged = LogLines.WaitFor(_servers[0].Node.System,
            l => l.Contains("refused a node at", StringComparison.Ordinal) && l.Contains("another cluster key", StringComparison.Ordinal), TimeSpan.FromSeconds(20));

        // The cluster port itself, spoken to with another key: the handshake or the first read fails, and the node logs
        // why (once for that address).
        using (var other = AkkaTcpTransfer.Security.ClusterIdentity.Load(otherCertificate, otherKey))
        {
            using var tcp = new System.Net.Sockets.TcpClient();
            await tcp.ConnectAsync(System.Net.IPAddress.Loopback, ClusterPort(_servers[0].Node));
            await using var tls = new System.Net.Security.SslStream(tcp.GetStream());
            var refused = await Record.ExceptionAsync(async () =>
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
                {
                    TargetHost = "stranger",
                    ClientCertificateContext = other.Context,
                    RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null, // a stranger takes whatever it is shown
                }, timeout.Token);
                Assert.Equal(0, await tls.ReadAsync(new byte[1], timeout.Token));
            });
            Assert.True(refused is null or System.Security.Authentication.AuthenticationException or IOException, $"{refused}");
        }
        await refusedLogged;

        // A node started with it stops before joining, naming the reason; the cluster never sees it.
        var failed = await Assert.ThrowsAsync<NodeStartException>(() => Nodes.StartServer(
            [.. ClusterFast, ("cluster.seeds", seed), ("cluster.certificate", otherCertificate), ("cluster.key", otherKey)]));
        Assert.Equal(StartFailure.ClusterJoin, failed.Kind);
        Assert.Contains($"cannot join the cluster at {seed}: it presents another cluster key", failed.Message, StringComparison.Ordinal);
        Assert.Equal(3, Akka.Cluster.Cluster.Get(_servers[0].Node.System).State.Members.Count);
    }

    [Fact]
    public async Task A_node_link_port_admits_only_a_peer_that_holds_the_cluster_key()
    {
        var port = (await LinkStats(1)).Port;
        Assert.NotEqual(0, port);
        using var refusals = LogLines.Collect(_servers[1].Node.System, l => l.Contains("refused a node link from 127.0.0.1", StringComparison.Ordinal));
        var firstRefusal = LogLines.WaitFor(_servers[1].Node.System, l => l.Contains("refused a node link from 127.0.0.1", StringComparison.Ordinal), TimeSpan.FromSeconds(20));
        // In the clear, whatever it says (even the cluster's own token key): one refusal at most, then closed.
        foreach (var hello in new[]
                 {
                     "GET / HTTP/1.1\r\nHost: x\r\n\r\n.........................."u8.ToArray(), // not ours at all
                     Protocol.FrameEncoder.Encode(new Protocol.LinkHello(1, AkkaTcpTransfer.Cluster.ClusterKeys.TokenKey(""))),
                     Protocol.FrameEncoder.Encode(new Protocol.Say(1, "", "a client's frame, not a link's")),
                 })
        {
            using var tcp = new System.Net.Sockets.TcpClient();
            await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port);
            var answer = await Exchange(tcp.GetStream(), hello);
            var frames = new List<Protocol.Frame>();
            new Protocol.FrameDecoder(1 << 20).Decode(answer, frames);
            Assert.All(frames, f => Assert.Equal(Protocol.WireCode.EncryptionMismatch, Assert.IsType<Protocol.Refused>(f).Code));
        }
        // Over TLS, with another cluster's key or with none: the handshake fails, and nothing it sends is read.
        var (otherCertificate, otherKey) = TestNodes.NewClusterKey();
        using var other = AkkaTcpTransfer.Security.ClusterIdentity.Load(otherCertificate, otherKey);
        foreach (var presented in new[] { other.Context, null })
        {
            using var tcp = new System.Net.Sockets.TcpClient();
            await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port);
            await using var tls = new System.Net.Security.SslStream(tcp.GetStream());
            try
            {
                await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
                {
                    TargetHost = "stranger",
                    ClientCertificateContext = presented,
                    RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null, // a stranger takes whatever it is shown
                });
                var hello = Protocol.FrameEncoder.Encode(new Protocol.LinkHello(1, AkkaTcpTransfer.Cluster.ClusterKeys.TokenKey("")));
                Assert.Empty(await Exchange(tls, hello));
            }
            catch (System.Security.Authentication.AuthenticationException)
            {
                // refused in the handshake itself
            }
        }
        Assert.Equal(0, (await LinkStats(1)).MessagesReceived);
        // Five refused attempts from one address: its operator reads about it once.
        await firstRefusal;
        Assert.Single(refusals.Lines);
    }

    /// <summary>Sends <paramref name="hello"/>, then a well-formed message for node 1's replica (were the link open), and
    /// reads until the node closes: what came back.</summary>
    private async Task<byte[]> Exchange(Stream stream, byte[] hello)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var answer = new List<byte>();
        try
        {
            await stream.WriteAsync(hello, timeout.Token);
            // The node may have closed the link already, after the hello: then this write fails, which is the point.
            await stream.WriteAsync(WellFormedMessage(_servers[1].Node), timeout.Token);
            var buffer = new byte[4096];
            int n;
            while ((n = await stream.ReadAsync(buffer, timeout.Token)) > 0) answer.AddRange(buffer.AsSpan(0, n).ToArray());
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException)
        {
            // reset, or the TLS alert of a refused handshake: closed too
        }
        Assert.False(timeout.IsCancellationRequested, "the link stayed open");
        return [.. answer];
    }

    [Fact]
    public async Task When_the_name_directory_moves_to_another_node_it_still_knows_every_name_held()
    {
        Nodes.ExpectErrors = true; // a node leaving may log its association's end as an error
        // The directory runs on the oldest node, node 0. Names held on nodes 1 and 2:
        var alice = await Nodes.StartClient("alice", Port(1));
        await Nodes.StartClient("bob", Port(2));
        await alice.Log.WaitFor<PeerJoined>(p => p.Name == "bob");

        // Node 0 leaves: the directory starts over on node 1, empty, and must learn the names before it answers.
        var mark = _servers[1].Log.Mark();
        await _servers[0].Node.StopAsync();
        await _servers[1].Log.WaitFor<ClusterMemberChanged>(m => m.Status == "removed", after: mark, timeout: TimeSpan.FromSeconds(30));

        // Once the new directory answers at all (a fresh name gets in; "try again" while it is being handed over)...
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((await TryJoin("probe", Port(1))).Node is null)
            Assert.True(DateTime.UtcNow < deadline, "the moved directory never granted a free name in 30 s");
        // ...another client asking node 1 for bob's name (held on node 2) is refused.
        var (second, error) = await TryJoin("bob", Port(1));
        Assert.True(second is null, "a second bob was let in after the directory moved");
        Assert.Contains("already taken", error, StringComparison.Ordinal);
        // And the moved directory grants a free name.
        Assert.Equal("carol", (await Nodes.StartClient("carol", Port(2))).Node.Name);
    }

    [Fact]
    public async Task A_client_of_the_node_that_holds_the_name_directory_comes_back_when_that_node_dies()
    {
        Nodes.ExpectErrors = true; // the aborted node's peers log the broken association
        // dana knows two nodes; her first, node 0, is the oldest and so runs the name directory.
        var dana = await Nodes.StartClient("dana", Port(0), ("client.servers", $"127.0.0.1:{Port(1)}"));
        var mark = dana.Log.Mark();
        ((ExtendedActorSystem)_servers[0].Node.System).Abort();

        // Node 1 cannot confirm her name until the directory has moved (the dead node must first be removed):
        // meanwhile it answers "try again", and she does, until she is back under her name.
        var back = await dana.Log.WaitFor<Connected>(after: mark, timeout: TimeSpan.FromSeconds(40));
        Assert.Equal("dana", back.Name);
        Assert.Empty(dana.Log.All<ConnectionRefused>());
    }

    [Fact]
    public async Task A_node_with_more_clients_than_one_hello_part_is_seen_whole_by_a_newcomer_with_no_one_leaving()
    {
        // 300 clients on node 0: its hello to a new node comes in two parts (256 + 44), and twice (once when each
        // side sees the other up).
        var crowd = new List<RawClient>();
        try
        {
            for (var i = 0; i < 300; i++)
                crowd.Add(await RawClient.JoinAsync(Port(0), $"crowd{i}", from: new System.Net.IPAddress([127, 0, 0, (byte)(2 + (i % 200))])));
            var seed = $"127.0.0.1:{ClusterPort(_servers[0].Node)}";
            var (newcomer, log) = await Nodes.StartServer([.. ClusterFast, ("state-dir", Files.Dir("server-state")), ("cluster.seeds", seed)]);
            // Everything node 0 sent the newcomer before this marker has arrived (one sender, in order).
            var marker = await Nodes.StartClient("marker", Port(0));
            await log.WaitFor<PeerJoined>(p => p.Name == "marker", timeout: TimeSpan.FromSeconds(30));
            Assert.Equal(300, log.All<PeerJoined>().Count(p => p.Name.StartsWith("crowd", StringComparison.Ordinal)));
            Assert.Empty(log.All<PeerLeft>());
        }
        finally
        {
            foreach (var c in crowd) await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task Nodes_that_call_themselves_by_a_host_name_relay_over_their_links_too()
    {
        // A separate cluster of two whose cluster host is a name, not an address.
        (string, string)[] named = [.. ClusterFast, ("cluster.host", "localhost"), ("state-dir", Files.Dir("named-state"))];
        var (first, _) = await Nodes.StartServer(named);
        var (second, _) = await Nodes.StartServer([.. named, ("cluster.seeds", $"localhost:{ClusterPort(first)}")]);
        var alice = await Nodes.StartClient("alice", first.Port);
        var bob = await Nodes.StartClient("bob", second.Port, ("downloads", Files.Dir("named-bob")));
        await alice.Log.WaitFor<PeerJoined>(p => p.Name == "bob");

        var source = Files.Create("src/named.bin", 3_000_000, seed: 31);
        alice.Node.Commands.Tell(new NodeCommands.SendFile("bob", source));
        var received = await bob.Log.WaitFor<TransferCompleted>(c => c.File == "named.bin", timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(Files.Sha256(source), Files.Sha256(received.Path));
        var sent = await first.System.ActorSelection("/user/server/links")
            .Ask<AkkaTcpTransfer.Cluster.NodeLinksActor.Stats>(AkkaTcpTransfer.Cluster.NodeLinksActor.GetStats.Instance, TimeSpan.FromSeconds(5));
        Assert.True(sent.MessagesSent >= 40, $"sent through the link: {sent.MessagesSent}");
    }
}
