using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text.RegularExpressions;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Tests.Support;
using AkkaTcpTransfer.Web;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>The web client's server side, without a browser: the WebSocket at /ws is one more byte transport under the
/// same connection actor, so a client on it chats with TCP clients, and is held to the same limits; the page and the
/// socket refuse what a hostile page would try. (The page itself runs in a real browser in the CLI tests.)</summary>
public sealed partial class WebSocketTests : IAsyncDisposable
{
    private readonly TestNodes _nodes = new();
    private readonly List<WebClientServer> _webs = [];

    public async ValueTask DisposeAsync()
    {
        foreach (var web in _webs) await web.DisposeAsync();
        await _nodes.DisposeAsync();
    }

    private async Task<(ServerNode Server, EventLog Log, Uri Page)> StartServerWithWeb(params (string, string)[] overrides)
    {
        var (server, log) = await _nodes.StartServer([("web.port", "0"), .. overrides]);
        var web = await WebClientServer.StartAsync(server);
        _webs.Add(web);
        var listening = await log.WaitFor<WebListening>();
        Assert.Equal(web.Url.ToString(), listening.Url);
        return (server, log, web.Url);
    }

    [Fact]
    public async Task A_client_on_the_websocket_chats_with_a_tcp_client_both_ways_over_https()
    {
        var (server, _, page) = await StartServerWithWeb();
        Assert.Equal("https", page.Scheme);
        var (bob, bobLog) = await _nodes.StartClient("bob", server.Port);
        await using var web = await RawClient.JoinWebSocketAsync(page, server.Fingerprint, "webby");
        Assert.Contains("bob", web.Welcome!.Peers);
        await bobLog.WaitFor<Events.PeerJoined>(p => p.Name == "webby");

        await web.SendAsync(new Say(1, "", "from the browser's socket"));
        await web.Expect<SayAck>(a => a.Id == 1);
        var heard = await bobLog.WaitFor<ChatReceived>(c => c.Text == "from the browser's socket");
        Assert.Equal("webby", heard.From);

        bob.Commands.Tell(new NodeCommands.SayTo("webby", "to the socket"));
        var chat = await web.Expect<Protocol.Chat>(c => c.Text == "to the socket");
        Assert.Equal(("bob", "webby"), (chat.From, chat.To));

        // A goodbye from the socket's side ends the session as over TCP.
        await web.SendAsync(new Goodbye(WireCode.Normal, "bye"));
        await bobLog.WaitFor<Events.PeerLeft>(p => p.Name == "webby");
    }

    [Fact]
    public async Task A_socket_actor_that_dies_ends_its_own_session_only()
    {
        var (server, _, page) = await StartServerWithWeb(TestNodes.Insecure);
        var (bob, bobLog) = await _nodes.StartClient("bob", server.Port, TestNodes.Insecure);
        await using var web = await RawClient.JoinWebSocketAsync(page, null, "webby");
        await bobLog.WaitFor<Events.PeerJoined>(p => p.Name == "webby");
        var socket = await server.System.ActorSelection("/user/server/listener/websocket-*").ResolveOne(EventLog.DefaultTimeout);
        _nodes.ExpectErrors = true; // Akka logs the kill as an error
        socket.Tell(Kill.Instance);
        // Its session ends as for a dropped connection: the socket is cut (no close frame), everyone sees the client leave...
        await web.ReceiveUntilClosedAsync();
        Assert.Null(web.WebSocket!.CloseStatus);
        await bobLog.WaitFor<Events.PeerLeft>(p => p.Name == "webby");
        // ...and the server serves on, over WebSockets too.
        await using var again = await RawClient.JoinWebSocketAsync(page, null, "webby2");
        bob.Commands.Tell(new NodeCommands.SayTo("webby2", "welcome back"));
        await again.Expect<Protocol.Chat>(c => c.Text == "welcome back");
    }

    [Fact]
    public async Task A_peer_that_stops_reading_then_closes_loses_its_tcp_connection_too()
    {
        var (_, _, page) = await StartServerWithWeb(TestNodes.Insecure, ("limits.chat-per-second", "1000"), ("limits.chat-burst", "1000"));
        // A client with a tiny receive buffer that reads nothing after its Welcome: what the server sends it piles up.
        Socket? tcp = null;
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                tcp = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096, NoDelay = true };
                await tcp.ConnectAsync(context.DnsEndPoint, ct);
                return new NetworkStream(tcp, ownsSocket: true);
            },
        };
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{page.Port}/ws"), new HttpMessageInvoker(handler), CancellationToken.None);
        await using var client = new RawClient(socket);
        await client.SendAsync(new Hello(ProtocolLimits.Version, 1 << 20, "deaf", "", []));
        await client.Expect<Welcome>();
        var line = new string('x', 15_000);
        await client.SendRawAsync([.. Enumerable.Range(1, 400).SelectMany(i => FrameEncoder.Encode(new Say((uint)i, "deaf", line)))]);
        var local = (IPEndPoint)tcp!.LocalEndPoint!;
        // The server's writes to it are stuck: its kernel holds more than a MiB it cannot send.
        await Eventually(() => ServerUnsent(page.Port, local.Port) > 1 << 20, "the server's unsent bytes never piled up");
        // Now it closes its side, and leaves. The server must not keep the connection for the close frame it cannot send.
        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await Eventually(() => !IPGlobalProperties.GetIPGlobalProperties().GetActiveTcpConnections()
            .Any(c => c.LocalEndPoint.Equals(local) && c.State == TcpState.Established), "the connection stayed open");
    }

    [Fact]
    public async Task Every_connection_to_the_web_port_counts_against_its_address_from_its_accept()
    {
        // (A handshake time longer than the wait below: an idle connection is not closed for its silence here.)
        var (_, _, page) = await StartServerWithWeb(TestNodes.Insecure, ("server.max-connections-per-address", "2"), ("server.handshake-timeout", "60s"));
        // Three connections that ask for nothing (a slow client, or one keeping its connection for later): two fit the
        // address's limit, one is closed at once without a word. (Which one is up to the order they are accepted in.)
        var sockets = new List<Socket>();
        for (var i = 0; i < 3; i++)
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, page.Port);
            sockets.Add(socket);
        }
        try
        {
            // Closed, within a time well below the 10 s an idle connection is kept for.
            var closed = await Task.WhenAll(sockets.Select(ClosedWithin));
            Assert.Equal(1, closed.Count(c => c));
            // The other two are served.
            var open = sockets[Array.IndexOf(closed, false)];
            using var timeout = new CancellationTokenSource(EventLog.DefaultTimeout);
            await open.SendAsync("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"u8.ToArray(), timeout.Token);
            var buffer = new byte[64];
            var answer = System.Text.Encoding.ASCII.GetString(buffer, 0, await open.ReceiveAsync(buffer, timeout.Token));
            Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var socket in sockets) socket.Dispose();
        }

        static async Task<bool> ClosedWithin(Socket socket)
        {
            using var quiet = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            try
            {
                return await socket.ReceiveAsync(new byte[16], SocketFlags.Peek, quiet.Token) == 0;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }
    }

    private static async Task Eventually(Func<bool> condition, string otherwise)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, otherwise);
            await Task.Delay(100);
        }
    }

    /// <summary>Bytes the server's socket for the connection from <paramref name="clientPort"/> has not sent yet (the
    /// kernel's send queue, from /proc/net/tcp).</summary>
    private static long ServerUnsent(int serverPort, int clientPort)
    {
        foreach (var row in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            var f = row.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var localPort = Convert.ToInt32(f[1].Split(':')[1], 16);
            var remotePort = Convert.ToInt32(f[2].Split(':')[1], 16);
            if (localPort == serverPort && remotePort == clientPort) return Convert.ToInt64(f[4].Split(':')[0], 16);
        }
        return 0;
    }

    [Fact]
    public async Task Message_boundaries_mean_nothing_frames_split_or_packed_any_way_are_read_as_a_stream()
    {
        var (server, _, page) = await StartServerWithWeb(TestNodes.Insecure);
        Assert.Equal("http", page.Scheme);
        await using var web = await RawClient.ConnectWebSocketAsync(page, null);
        // The Hello one byte per message...
        foreach (var b in FrameEncoder.Encode(new Hello(ProtocolLimits.Version, 1 << 20, "slowpoke", "", [])))
            await web.SendRawAsync([b]);
        await web.Expect<Welcome>();
        // ...then three requests in one message, the last cut in two across two messages.
        var packed = new[] { new Say(7, "", "one"), new Say(8, "", "two"), new Say(9, "", "three") }.SelectMany(FrameEncoder.Encode).ToArray();
        await web.SendRawAsync(packed[..^3]);
        await web.SendRawAsync(packed[^3..]);
        Assert.Equal(7u, (await web.Expect<SayAck>()).Id);
        Assert.Equal(8u, (await web.Expect<SayAck>()).Id);
        Assert.Equal(9u, (await web.Expect<SayAck>()).Id);
    }

    [Fact]
    public async Task A_text_message_ends_the_connection_with_a_close_that_says_why()
    {
        var (_, _, page) = await StartServerWithWeb(TestNodes.Insecure);
        await using var web = await RawClient.JoinWebSocketAsync(page, null, "texter");
        var socket = web.WebSocket!;
        await socket.SendAsync("hello"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        await web.ReceiveUntilClosedAsync();
        Assert.Equal(WebSocketCloseStatus.InvalidMessageType, socket.CloseStatus);
        Assert.Contains("binary", socket.CloseStatusDescription, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_flood_from_a_websocket_is_refused_and_ended_as_one_from_tcp_and_its_address_is_counted_with_tcp()
    {
        var (server, _, page) = await StartServerWithWeb(TestNodes.Insecure, ("limits.chat-per-second", "5"), ("limits.chat-burst", "5"),
            ("limits.backlog", "20"), ("limits.excess-tolerance", "10"), ("server.penalty-min", "30s"));
        var (_, bobLog) = await _nodes.StartClient("bob", server.Port, TestNodes.Insecure);
        await using var flooder = await RawClient.JoinWebSocketAsync(page, null, "flooder");
        await flooder.SendRawAsync([.. Enumerable.Range(0, 500).SelectMany(i => FrameEncoder.Encode(new Say((uint)i, "", $"flood {i}")))]);
        var frames = await flooder.ReceiveUntilClosedAsync();
        var refused = frames.OfType<SayRefused>().ToList();
        Assert.NotEmpty(refused);
        Assert.All(refused, r => Assert.Equal(WireCode.RateLimited, r.Code));
        Assert.Equal(WireCode.RateLimited, Assert.IsType<Goodbye>(frames.Last()).Code);
        await bobLog.WaitFor<Events.PeerLeft>(p => p.Name == "flooder");
        Assert.InRange(bobLog.All<ChatReceived>().Count(c => c.From == "flooder"), 0, 7);

        // The address waits after the flood, on the socket as on TCP: refused before its Hello is read.
        await using var again = await RawClient.ConnectWebSocketAsync(page, null);
        await again.SendAsync(new Hello(ProtocolLimits.Version, 1 << 20, "flooder", "", []));
        var wait = Assert.IsType<Refused>(await again.ReceiveAsync());
        Assert.True(wait.Code == WireCode.RateLimited, wait.ToString());
        // ...and on TCP: one address, one wait.
        await using var tcp = await RawClient.ConnectAsync(server.Port);
        Assert.Equal(WireCode.RateLimited, Assert.IsType<Refused>(await tcp.ReceiveAsync()).Code);
    }

    [Fact]
    public async Task Websockets_and_tcp_connections_from_one_address_share_its_limit()
    {
        var (server, _, page) = await StartServerWithWeb(TestNodes.Insecure, ("server.max-connections-per-address", "2"));
        await using var tcp = await RawClient.JoinAsync(server.Port, "tcp");
        await using var web = await RawClient.JoinWebSocketAsync(page, null, "web");
        await using var third = await RawClient.ConnectWebSocketAsync(page, null);
        var refused = Assert.IsType<Refused>(await third.ReceiveAsync());
        Assert.Equal(WireCode.ServerFull, refused.Code);
        Assert.Contains("too many connections from 127.0.0.1 (at most 2)", refused.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Only_the_servers_own_page_may_open_the_socket_and_only_by_a_loopback_name()
    {
        var (server, _, page) = await StartServerWithWeb();
        // A page from elsewhere: 403 before any upgrade.
        var foreign = await Assert.ThrowsAsync<WebSocketException>(() => RawClient.ConnectWebSocketAsync(page, server.Fingerprint, "https://evil.example"));
        Assert.Contains("403", foreign.Message, StringComparison.Ordinal);
        // The page's own origin may.
        await using (var own = await RawClient.ConnectWebSocketAsync(page, server.Fingerprint, $"https://127.0.0.1:{page.Port}"))
        {
            await own.SendAsync(new Hello(ProtocolLimits.Version, 1 << 20, "own", "", []));
            await own.Expect<Welcome>();
        }

        using var http = Https(server.Fingerprint!);
        // A name rebound to 127.0.0.1 by some site gets nothing from a loopback-only server.
        using var rebound = new HttpRequestMessage(HttpMethod.Get, page);
        rebound.Headers.Host = $"attacker.example:{page.Port}";
        Assert.Equal(HttpStatusCode.MisdirectedRequest, (await http.SendAsync(rebound)).StatusCode);
        using var local = new HttpRequestMessage(HttpMethod.Get, page);
        local.Headers.Host = $"localhost:{page.Port}";
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(local)).StatusCode);
    }

    [Fact]
    public async Task The_page_is_served_from_the_assembly_with_a_strict_policy_and_no_inline_script()
    {
        var (server, _, page) = await StartServerWithWeb();
        using var http = Https(server.Fingerprint!);
        using var response = await http.GetAsync(page);
        response.EnsureSuccessStatusCode();
        Assert.Equal(WebClientServer.ContentSecurityPolicy, response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        var html = await response.Content.ReadAsStringAsync();
        var scripts = ScriptTag().Matches(html);
        Assert.NotEmpty(scripts);
        // Every script is a file of the page's own origin (the policy would block an inline one anyway; none is written).
        Assert.All(scripts, s => Assert.Matches("src=\"/[a-z]+\\.js\"", s.Value));
        Assert.DoesNotMatch("<script[^>]*>[^<]+</script>", html);
        Assert.DoesNotMatch(" on[a-z]+=", html);
        foreach (var asset in new[] { "app.js", "app.css", "sw.js" })
        {
            using var file = await http.GetAsync(new Uri(page, asset));
            Assert.True(file.IsSuccessStatusCode, $"{asset}: {file.StatusCode}");
        }
        Assert.Equal("text/javascript", (await http.GetAsync(new Uri(page, "app.js"))).Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri(page, "missing.js"))).StatusCode);
    }

    /// <summary>An HTTP client that trusts the server by its key fingerprint, as its clients do.</summary>
    private static HttpClient Https(string fingerprint) => new(new HttpClientHandler
    {
        ServerCertificateCustomValidationCallback = (_, certificate, _, _) => certificate is not null && Security.Fingerprint.Of(certificate) == fingerprint,
    })
    { Timeout = EventLog.DefaultTimeout };

    [GeneratedRegex("<script[^>]*>")]
    private static partial Regex ScriptTag();
}
