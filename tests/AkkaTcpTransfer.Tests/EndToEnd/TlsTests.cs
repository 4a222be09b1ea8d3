using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Fuzzing;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Security;
using AkkaTcpTransfer.Tests.Support;
using PeerJoined = AkkaTcpTransfer.Events.PeerJoined;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>TLS as users meet it: who the client trusts (a given fingerprint, known_servers, a CA, first use) and
/// what it refuses, ends that disagree about TLS, and peers that break TLS itself. Each bad peer ends only its own
/// connection: a client that is online throughout keeps chatting.</summary>
public sealed class TlsTests : NodesAndFiles
{
    private static string P(int port) => port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A server with alice online (chatting proves the server still serves her).</summary>
    private async Task<(ServerNode Server, EventLog ServerLog, ClientNode Alice, EventLog AliceLog)> ServerWithAlice(params (string, string)[] overrides)
    {
        var (server, serverLog) = await Nodes.StartServer(overrides);
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port);
        return (server, serverLog, alice, aliceLog);
    }

    private static async Task StillServes(ServerNode server, ClientNode alice, EventLog serverLog, string text)
    {
        alice.Commands.Tell(new NodeCommands.Say(text));
        await serverLog.WaitFor<ChatReceived>(c => c.Text == text);
    }

    private static async Task<NodeStartException> StartFails(Task start) => await Assert.ThrowsAsync<NodeStartException>(() => start);

    [Fact]
    public async Task A_client_given_the_servers_fingerprint_connects_over_tls_13_and_pins_it()
    {
        var state = Files.Dir("alice-state");
        var (server, _) = await Nodes.StartServer();
        Assert.Matches("^[0-9a-f]{64}$", server.Fingerprint!);
        var (_, log) = await Nodes.StartClient("alice", server.Port, ("state-dir", state));
        var connected = await log.WaitFor<Connected>();
        Assert.Equal(server.Fingerprint, connected.Fingerprint);
        Assert.Equal(TrustBasis.GivenFingerprint, connected.Trust);
        var pinned = await log.WaitFor<ServerPinned>();
        Assert.Equal(server.Fingerprint, pinned.Fingerprint);
        Assert.Contains($"127.0.0.1:{server.Port} {server.Fingerprint}", await File.ReadAllTextAsync(Path.Combine(state, KnownServers.FileName)), StringComparison.Ordinal);

        // Next time the pin alone is enough.
        var (_, again) = await Nodes.StartClient("alice2", server.Port, ("state-dir", state), ("tls.fingerprint", ""));
        Assert.Equal(TrustBasis.KnownServer, (await again.WaitFor<Connected>()).Trust);
    }

    [Fact]
    public async Task The_server_key_is_kept_in_its_state_folder_readable_by_its_owner_only_and_survives_a_restart()
    {
        var state = Files.Dir("server-state");
        var (first, _) = await Nodes.StartServer(("state-dir", state));
        var fingerprint = first.Fingerprint;
        await first.StopAsync();
        var (second, _) = await Nodes.StartServer(("state-dir", state));
        Assert.Equal(fingerprint, second.Fingerprint);
        var key = Path.Combine(state, ServerIdentity.KeyFileName);
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        Assert.Equal(fingerprint, Fingerprint.Of(System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(
            Path.Combine(state, ServerIdentity.CertificateFileName), key)));
    }

    [Fact]
    public async Task A_wrong_fingerprint_is_refused_naming_both_and_nothing_is_pinned()
    {
        var (server, _) = await Nodes.StartServer();
        var state = Files.Dir("state");
        var wrong = new string('0', 64);
        var e = await StartFails(Nodes.StartClient("alice", server.Port, ("tls.fingerprint", wrong), ("state-dir", state)));
        Assert.Equal(StartFailure.NotTrusted, e.Kind);
        Assert.Equal(TrustProblem.Mismatch, e.Trust);
        Assert.Contains(wrong, e.Message, StringComparison.Ordinal);
        Assert.Contains(server.Fingerprint!, e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(state, KnownServers.FileName)));
    }

    [Fact]
    public async Task An_unknown_server_is_refused_with_its_fingerprint_unless_trusted_on_first_use()
    {
        var (server, serverLog) = await Nodes.StartServer();
        var state = Files.Dir("state");
        var e = await StartFails(Nodes.StartClient("alice", server.Port, ("tls.fingerprint", ""), ("state-dir", state)));
        Assert.Equal(StartFailure.NotTrusted, e.Kind);
        Assert.Equal(TrustProblem.Unknown, e.Trust);
        Assert.Equal(server.Fingerprint, e.ServerFingerprint);
        Assert.Contains("--fingerprint", e.Message, StringComparison.Ordinal);
        Assert.Empty(serverLog.All<PeerJoined>());

        var (_, log) = await Nodes.StartClient("alice", server.Port, ("tls.fingerprint", ""), ("tls.trust-on-first-use", "on"), ("state-dir", state));
        Assert.Equal(TrustBasis.FirstUse, (await log.WaitFor<Connected>()).Trust);
        Assert.Equal(server.Fingerprint, (await log.WaitFor<ServerPinned>()).Fingerprint);
    }

    [Fact]
    public async Task A_server_whose_key_changed_is_refused_and_its_pin_is_never_replaced_even_on_first_use_terms()
    {
        var state = Files.Dir("alice-state");
        var (first, _) = await Nodes.StartServer(("state-dir", Files.Dir("server-a")));
        var port = first.Port;
        var (alice, aliceLog) = await Nodes.StartClient("alice", port, ("tls.fingerprint", ""), ("tls.trust-on-first-use", "on"), ("state-dir", state),
            ("client.reconnect.min-backoff", "50ms"));
        var known = await File.ReadAllTextAsync(Path.Combine(state, KnownServers.FileName));
        var mark = aliceLog.Mark();
        await first.StopAsync();
        await aliceLog.WaitFor<Disconnected>(after: mark);

        // Another server (another key) takes the port: the online client stops instead of reconnecting to it, and a
        // new start is refused too, naming both keys and the file to edit.
        var (impostor, impostorLog) = await Nodes.StartServer(("state-dir", Files.Dir("server-b")), ("port", P(port)));
        Assert.NotEqual(first.Fingerprint, impostor.Fingerprint);
        var refused = await aliceLog.WaitFor<ConnectionRefused>(after: mark);
        Assert.Contains(impostor.Fingerprint!, refused.Reason, StringComparison.Ordinal);

        var e = await StartFails(Nodes.StartClient("alice", port, ("tls.fingerprint", ""), ("tls.trust-on-first-use", "on"), ("state-dir", state)));
        Assert.Equal(TrustProblem.Mismatch, e.Trust);
        Assert.Contains(first.Fingerprint!, e.Message, StringComparison.Ordinal);
        Assert.Contains(impostor.Fingerprint!, e.Message, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(state, KnownServers.FileName), e.Message, StringComparison.Ordinal);
        Assert.Equal(known, await File.ReadAllTextAsync(Path.Combine(state, KnownServers.FileName)));
        Assert.Empty(impostorLog.All<PeerJoined>());
    }

    [Fact]
    public async Task A_known_servers_file_that_cannot_be_read_or_has_a_broken_line_refuses_instead_of_trusting_on_first_use()
    {
        var (server, serverLog) = await Nodes.StartServer();
        var key = KnownServers.Key("127.0.0.1", server.Port);

        // The server's line is damaged: it may have pinned another key, so first use must not decide.
        var damaged = Files.Dir("damaged");
        var damagedFile = Path.Combine(damaged, KnownServers.FileName);
        var text = $"{key} {server.Fingerprint![..40]}\n";
        await File.WriteAllTextAsync(damagedFile, text);
        var e = await StartFails(Nodes.StartClient("alice", server.Port, ("tls.fingerprint", ""), ("tls.trust-on-first-use", "on"), ("state-dir", damaged)));
        Assert.Equal(TrustProblem.Invalid, e.Trust);
        Assert.Contains("not a fingerprint", e.Message, StringComparison.Ordinal);
        Assert.Equal(text, await File.ReadAllTextAsync(damagedFile));

        // A line for another server that is broken does not stand in this one's way.
        await File.WriteAllTextAsync(damagedFile, "other.example:7000 zz\n");
        var (_, log) = await Nodes.StartClient("alice", server.Port, ("tls.fingerprint", ""), ("tls.trust-on-first-use", "on"), ("state-dir", damaged));
        Assert.Equal(TrustBasis.FirstUse, (await log.WaitFor<Connected>()).Trust);

        // The file cannot be read at all (a folder in its place: unreadable even for root).
        var unreadable = Files.Dir("unreadable");
        Directory.CreateDirectory(Path.Combine(unreadable, KnownServers.FileName));
        e = await StartFails(Nodes.StartClient("bob", server.Port, ("tls.fingerprint", ""), ("tls.trust-on-first-use", "on"), ("state-dir", unreadable)));
        Assert.Equal(TrustProblem.Invalid, e.Trust);
        Assert.Contains("cannot read", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(serverLog.All<PeerJoined>(), j => j.Name == "bob");
    }

    [Fact]
    public async Task A_lost_server_certificate_is_made_again_from_the_kept_key_and_a_loose_key_file_is_narrowed()
    {
        var state = Files.Dir("server-state");
        var (first, _) = await Nodes.StartServer(("state-dir", state));
        var fingerprint = first.Fingerprint;
        await first.StopAsync();
        var key = Path.Combine(state, ServerIdentity.KeyFileName);
        File.Delete(Path.Combine(state, ServerIdentity.CertificateFileName));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var (second, _) = await Nodes.StartServer(("state-dir", state));
        // The key is the identity: pins made before still hold.
        Assert.Equal(fingerprint, second.Fingerprint);
        Assert.True(File.Exists(Path.Combine(state, ServerIdentity.CertificateFileName)));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(state, ServerIdentity.CertificateFileName)));
        }
    }

    [Fact]
    public async Task A_tls_server_that_answers_with_an_alert_is_reported_as_a_tls_failure_not_as_plaintext()
    {
        // A TLS server of another kind that speaks only TLS 1.2: it answers our ClientHello with a protocol_version
        // alert, a record whose first byte is 0x15.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var identity = ServerIdentity.LoadOrCreate(Files.Dir("other-server"), []);
        var serve = Task.Run(async () =>
        {
            using var tcp = await listener.AcceptTcpClientAsync();
            await using var ssl = new SslStream(tcp.GetStream());
            try
            {
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = identity.Context,
                    EnabledSslProtocols = SslProtocols.Tls12,
                });
            }
            catch (Exception ex) when (ex is AuthenticationException or IOException)
            {
                // expected: the versions do not meet
            }
        });
        var e = await StartFails(Nodes.StartClient("alice", port, ("tls.fingerprint", identity.Fingerprint)));
        Assert.Contains("TLS handshake failed", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("without TLS", e.Message, StringComparison.Ordinal);
        await serve.WaitAsync(EventLog.DefaultTimeout);
    }

    [Fact]
    public async Task A_ca_issued_certificate_for_the_host_is_trusted_without_a_pin_and_an_expired_or_wrong_host_one_is_not()
    {
        using var ca = new TestCa(Files.Dir("ca"));
        var now = DateTimeOffset.UtcNow;
        var good = ca.Issue("good", ["localhost", "127.0.0.1"], now.AddDays(-1), now.AddDays(30));
        var (server, _) = await Nodes.StartServer(("tls.certificate", good.Certificate), ("tls.key", good.Key));
        var state = Files.Dir("alice-state");
        var (_, log) = await Nodes.StartClient("alice", server.Port, ("tls.fingerprint", ""), ("tls.ca-certificates", ca.RootFile), ("state-dir", state));
        Assert.Equal(TrustBasis.CertificateAuthority, (await log.WaitFor<Connected>()).Trust);
        Assert.Empty(log.All<ServerPinned>());
        Assert.False(File.Exists(Path.Combine(state, KnownServers.FileName)));
        // Without the CA (the system's roots do not know it) the same server is just unknown.
        var unknown = await StartFails(Nodes.StartClient("bob", server.Port, ("tls.fingerprint", "")));
        Assert.Equal(TrustProblem.Unknown, unknown.Trust);
        Assert.Contains("no trusted certificate authority issued it", unknown.Message, StringComparison.Ordinal);

        var expired = ca.Issue("expired", ["localhost", "127.0.0.1"], now.AddDays(-30), now.AddDays(-1));
        var (old, _) = await Nodes.StartServer(("tls.certificate", expired.Certificate), ("tls.key", expired.Key));
        var e1 = await StartFails(Nodes.StartClient("carol", old.Port, ("tls.fingerprint", ""), ("tls.ca-certificates", ca.RootFile)));
        Assert.Equal(TrustProblem.Unknown, e1.Trust);
        Assert.Contains("expired", e1.Message, StringComparison.OrdinalIgnoreCase);

        var elsewhere = ca.Issue("elsewhere", ["files.example.org"], now.AddDays(-1), now.AddDays(30));
        var (misnamed, _) = await Nodes.StartServer(("tls.certificate", elsewhere.Certificate), ("tls.key", elsewhere.Key));
        var e2 = await StartFails(Nodes.StartClient("dave", misnamed.Port, ("tls.fingerprint", ""), ("tls.ca-certificates", ca.RootFile)));
        Assert.Contains("does not name the host you connected to", e2.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_plaintext_client_gets_the_documented_refusal_in_the_clear_and_the_server_serves_on()
    {
        var (server, serverLog, alice, _) = await ServerWithAlice();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, server.Port));
        await socket.SendAsync(FrameEncoder.Encode(new Hello(ProtocolLimits.Version, 1 << 20, "plain", "", [])));
        var received = new List<byte>();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(EventLog.DefaultTimeout);
        int n;
        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0) received.AddRange(buffer.AsSpan(0, n).ToArray());
        // Exactly the bytes docs/PROTOCOL.md shows, then the server closed.
        Assert.Equal(ProtocolDoc.ClearRefusal(), Convert.ToHexStringLower(received.ToArray()));

        // And a client program started without TLS says why in one line.
        var e = await StartFails(Nodes.StartClient("plain", server.Port, TestNodes.Insecure));
        Assert.Equal(StartFailure.Refused, e.Kind);
        Assert.Equal("refused by the server: this server requires TLS: connect with a TLS client (akka-tcp-transfer without --insecure)", e.Message);
        await StillServes(server, alice, serverLog, "still here");
    }

    [Fact]
    public async Task A_tls_client_meeting_a_server_without_tls_is_refused_with_the_reason()
    {
        var (server, _) = await Nodes.StartServer(TestNodes.Insecure);
        Assert.Null(server.Fingerprint);
        var e = await StartFails(Nodes.StartClient("alice", server.Port, ("tls.fingerprint", new string('a', 64))));
        Assert.Equal(StartFailure.Refused, e.Kind);
        Assert.Contains("this server does not use TLS (it was started with --insecure)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tls_12_and_a_foreign_alpn_fail_the_handshake_and_only_that_connection()
    {
        var (server, serverLog, alice, _) = await ServerWithAlice();
        foreach (var (protocols, alpn) in new[] { (SslProtocols.Tls12, "akt/1"), (SslProtocols.Tls13, "h2") })
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, server.Port);
            await using var ssl = new SslStream(tcp.GetStream());
            await Assert.ThrowsAsync<AuthenticationException>(() => ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "127.0.0.1",
                EnabledSslProtocols = protocols,
                ApplicationProtocols = [new SslApplicationProtocol(alpn)],
                // The server is ours (its fingerprint is known), but the handshake is to fail before it matters.
                RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && StrangerTls.FingerprintOf(certificate) == server.Fingerprint,
            }).WaitAsync(EventLog.DefaultTimeout));
        }
        await StillServes(server, alice, serverLog, "after the bad handshakes");
    }

    [Fact]
    public async Task A_stalled_or_truncated_handshake_is_closed_and_costs_nobody_else()
    {
        var (server, serverLog, alice, _) = await ServerWithAlice(("server.handshake-timeout", "1s"));
        // The start of a ClientHello record (type 22, TLS 1.0 record version, 200 bytes announced), then nothing.
        byte[] partial = [0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03];
        using var stalled = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await stalled.ConnectAsync(new IPEndPoint(IPAddress.Loopback, server.Port));
        await stalled.SendAsync(partial);
        using (var truncated = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await truncated.ConnectAsync(new IPEndPoint(IPAddress.Loopback, server.Port));
            await truncated.SendAsync(partial);
            truncated.Shutdown(SocketShutdown.Send);
            using var t = new CancellationTokenSource(EventLog.DefaultTimeout);
            Assert.Equal(0, await truncated.ReceiveAsync(new byte[64], SocketFlags.None, t.Token));
        }
        // The stalled one is closed once the handshake timeout (1 s here) is over: the read ends, well within the wait.
        var started = DateTime.UtcNow;
        using var wait = new CancellationTokenSource(EventLog.DefaultTimeout);
        try
        {
            Assert.Equal(0, await stalled.ReceiveAsync(new byte[64], SocketFlags.None, wait.Token));
        }
        catch (SocketException)
        {
            // closed with an RST: as closed
        }
        Assert.True(DateTime.UtcNow - started > TimeSpan.FromMilliseconds(500), "closed at the timeout, not at once");
        await StillServes(server, alice, serverLog, "after the stalled handshakes");
    }

    [Fact]
    public async Task Garbage_after_the_handshake_closes_that_connection_only()
    {
        var (server, serverLog, alice, _) = await ServerWithAlice();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, server.Port));
        var network = new NetworkStream(socket, ownsSocket: false);
        using var timeout = new CancellationTokenSource(EventLog.DefaultTimeout);
        var (tls, clear) = await StrangerTls.ConnectAsync(network, server.Fingerprint!, timeout.Token);
        Assert.Empty(clear);
        // Bytes that are not a TLS record, straight onto the socket past TLS: nothing can decrypt them.
        await network.WriteAsync(System.Text.Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\n\r\n" + new string('x', 300)), timeout.Token);
        var read = 0;
        try
        {
            read = await tls.ReadAsync(new byte[256], timeout.Token);
        }
        catch (IOException)
        {
            // the server aborted: as closed
        }
        Assert.Equal(0, read);
        await StillServes(server, alice, serverLog, "after the garbage");
    }
}
