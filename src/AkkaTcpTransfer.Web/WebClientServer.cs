using System.Net;
using Akka.Event;
using AkkaTcpTransfer.Events;
using System.Security.Authentication;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Tcp;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace AkkaTcpTransfer.Web;

/// <summary>Serves the browser client of a running <see cref="ServerNode"/> (README, "The web client"): the page
/// (embedded in this assembly, or from <c>web.assets-dir</c>), and at <c>/ws</c> a WebSocket that carries the wire
/// protocol to the node's own listener (<see cref="ServerNode.ServeWebSocketAsync"/>), where it passes the same
/// admission and runs on the same connection actor as a TCP client. HTTPS with the server's certificate when the server
/// has TLS, plain HTTP when it runs without (--insecure). Kestrel, with no host lifetime of its own: the node's
/// CoordinatedShutdown decides when the process ends.</summary>
public sealed class WebClientServer : IAsyncDisposable
{
    /// <summary>Sent with every response. The page is one script file and one style sheet from this origin; its hasher
    /// is WebAssembly (hence <c>wasm-unsafe-eval</c>, which allows compiling WebAssembly and nothing else); downloads
    /// go through its service worker and a hidden frame of this origin.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "worker-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    /// <summary>The WebSocket's path.</summary>
    public const string SocketPath = "/ws";

    private readonly WebApplication _app;

    private WebClientServer(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    /// <summary>Where the page is: the address bound and its real port.</summary>
    public Uri Url { get; }

    /// <summary>Starts serving <paramref name="node"/>'s browser client as its settings say (<c>web.*</c>), publishes
    /// <see cref="WebListening"/>, and returns once the port is bound.</summary>
    /// <exception cref="NodeStartException">The port cannot be bound, or the page folder does not exist.</exception>
    public static async Task<WebClientServer> StartAsync(ServerNode node, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        var web = node.Settings.Web;
        var address = IPAddress.Parse(await ServerNode.AddressOf(web.Host, ct));
        var identity = node.Identity;
        IFileProvider files;
        if (web.AssetsDir.Length > 0)
        {
            var folder = Path.GetFullPath(web.AssetsDir);
            if (!Directory.Exists(folder))
                throw new NodeStartException(StartFailure.CannotBind, $"web.assets-dir: no folder '{folder}'");
            files = new PhysicalFileProvider(folder);
        }
        else files = new ManifestEmbeddedFileProvider(typeof(WebClientServer).Assembly, "wwwroot");

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(WebClientServer).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = Environments.Production,
        });
        // Only our settings configure it: no environment variable (ASPNETCORE_URLS, Kestrel__Endpoints__...) or
        // appsettings.json may add a listener, plain or elsewhere, beside the one below.
        builder.Configuration.Sources.Clear();
        // Nothing of Kestrel's may write to the console (the full-screen UI or the --json stream owns it): its warnings
        // go to the node's log.
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new AkkaLogProvider(Logging.GetLogger(node.System, "web")));
        // The web host must not take Ctrl+C and SIGTERM for itself: the node's shutdown ends the process.
        builder.Services.AddSingleton<IHostLifetime, NodeOwnedLifetime>();
        var door = new WebDoor(DescriptorBudget.Get(node.System), node.Settings.Server.MaxConnectionsPerAddress);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            // The page sends no request bodies: anything beyond a small one is refused.
            k.Limits.MaxRequestBodySize = 16 * 1024;
            // What a connection may make Kestrel hold for it: unread input (the WebSocket is read only as fast as the
            // connection actor asks, as TCP is), unsent output, and idle or slow connections.
            k.Limits.MaxRequestBufferSize = 64 * 1024;
            k.Limits.MaxResponseBufferSize = 256 * 1024;
            k.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(10);
            k.Limits.RequestHeadersTimeout = node.Settings.Server.HandshakeTimeout;
            k.Listen(address, web.Port, listen =>
            {
                // Every TCP connection to the web port takes one of the server's descriptors and counts against its
                // address's limit, from its accept, whatever it then asks for.
                listen.Use(door.Guard);
                // WebSockets as HTTP/1.1 upgrades, the same over HTTPS as over HTTP.
                listen.Protocols = HttpProtocols.Http1;
                if (identity is not null)
                    listen.UseHttps(new HttpsConnectionAdapterOptions { ServerCertificate = identity.Certificate, SslProtocols = SslProtocols.Tls13 });
            });
        });
        var app = builder.Build();
        var loopbackOnly = IPAddress.IsLoopback(address);
        var shutdown = Akka.Actor.CoordinatedShutdown.Get(node.System);
        if (!loopbackOnly && identity is null)
            Logging.GetLogger(node.System, "web").Warning("the web client is served over plain HTTP on {0} (--insecure): besides being readable on the network, " +
                "a page elsewhere could reach it through a visitor's browser by rebinding its own name to this address", address);
        app.Use(async (context, next) =>
        {
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
            headers["Cross-Origin-Opener-Policy"] = "same-origin";
            headers["Cross-Origin-Resource-Policy"] = "same-origin";
            headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()";
            headers.CacheControl = "no-cache";
            // A page bound to loopback answers loopback names only: a site that rebinds its own name to 127.0.0.1 gets
            // nothing (its Origin would match its Host, so the WebSocket's Origin check alone would not stop it).
            if (loopbackOnly && !WebRequests.IsLoopbackHost(context.Request.Host.Host))
            {
                await WebRequests.Refuse(context, StatusCodes.Status421MisdirectedRequest, "this server answers only to a loopback address (127.0.0.1, [::1], localhost)");
                return;
            }
            await next(context);
        });
        app.UseWebSockets();
        app.Use(async (context, next) =>
        {
            if (context.Request.Path != SocketPath)
            {
                await next(context);
                return;
            }
            if (!context.WebSockets.IsWebSocketRequest)
            {
                await WebRequests.Refuse(context, StatusCodes.Status400BadRequest, "the wire protocol over a WebSocket (docs/PROTOCOL.md, \"WebSocket\"); open / for the page");
                return;
            }
            // A browser names the page that opens the socket: only this server's own page may. (The list in
            // WebSocketOptions is fixed before the port is known; a client that is not a browser sends no Origin.)
            if (WebRequests.ForeignOrigin(context.Request) is not null)
            {
                await WebRequests.Refuse(context, StatusCodes.Status403Forbidden, "a page from another origin may not connect here");
                return;
            }
            if (shutdown.ShutdownReason is not null)
            {
                await WebRequests.Refuse(context, StatusCodes.Status503ServiceUnavailable, "the server is shutting down");
                return;
            }
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var remote = new IPEndPoint(context.Connection.RemoteIpAddress ?? IPAddress.None, context.Connection.RemotePort);
            await node.ServeWebSocketAsync(socket, remote, context.RequestAborted);
            // Not closed both ways in time (a peer that stopped reading, say): the connection goes, not just the socket.
            if (socket.State != System.Net.WebSockets.WebSocketState.Closed) context.Abort();
        });
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files });
        app.UseStaticFiles(new StaticFileOptions { FileProvider = files });
        try
        {
            await app.StartAsync(ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await app.DisposeAsync();
            throw new NodeStartException(StartFailure.CannotBind, $"cannot serve the web client on {address}:{web.Port}: {e.Message}");
        }
        var bound = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        var host = address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) ? Dns.GetHostName() : bound.Host;
        var url = new UriBuilder(bound.Scheme, host, bound.Port, "/").Uri;
        node.System.EventStream.Publish(new WebListening(url.ToString(), identity is not null));
        return new WebClientServer(app, url);
    }

    /// <summary>Stops serving: the page at once; WebSockets still open end with their connections (stop the node first
    /// to have them say goodbye).</summary>
    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _app.StopAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            // what was still open is cut
        }
        await _app.DisposeAsync();
    }

    /// <summary>Neither waits for nor reacts to console signals: the node owns the process's lifetime.</summary>
    private sealed class NodeOwnedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>Kestrel's warnings and errors into the node's log.</summary>
    private sealed class AkkaLogProvider(ILoggingAdapter log) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(log);

        public void Dispose()
        {
        }

        private sealed class Logger(ILoggingAdapter log) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (!IsEnabled(logLevel)) return;
                var text = formatter(state, exception);
                for (var cause = exception; cause is not null; cause = cause.InnerException) text += $": {cause.GetType().Name}: {cause.Message}";
                if (logLevel >= LogLevel.Error) log.Error("web: {0}", text);
                else log.Warning("web: {0}", text);
            }
        }
    }
}

/// <summary>Every TCP connection to the web port, from its accept: one of the node's descriptors (the same budget as the
/// TCP listener's, so that browsers cannot starve it of sockets, nor it them) and one of its address's connections
/// (<c>server.max-connections-per-address</c>, counted apart from the TCP port's). Past either it is closed at once.</summary>
internal sealed class WebDoor(DescriptorBudget descriptors, int perAddress)
{
    private readonly Dictionary<IPAddress, int> _open = [];

    public ConnectionDelegate Guard(ConnectionDelegate next) => async connection =>
    {
        var address = (connection.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
        if (!Enter(address))
        {
            connection.Abort();
            return;
        }
        try
        {
            await next(connection);
        }
        finally
        {
            Leave(address);
        }
    };

    private bool Enter(IPAddress address)
    {
        lock (_open)
        {
            var open = _open.GetValueOrDefault(address);
            if (open >= perAddress || !descriptors.TryAcquireConnection()) return false;
            _open[address] = open + 1;
            return true;
        }
    }

    private void Leave(IPAddress address)
    {
        lock (_open)
        {
            descriptors.Release();
            if (_open[address] <= 1) _open.Remove(address);
            else _open[address]--;
        }
    }
}

/// <summary>The checks on requests, apart so that tests can name their cases.</summary>
internal static class WebRequests
{
    public static async Task Refuse(HttpContext context, int status, string why)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(why + "\n");
    }

    public static bool IsLoopbackHost(string host)
    {
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return true;
        var bare = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        return IPAddress.TryParse(bare, out var ip) && IPAddress.IsLoopback(ip);
    }

    /// <summary>The request's Origin when a browser sent one that is not this server's own page; null otherwise.</summary>
    public static string? ForeignOrigin(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        if (origin.Length == 0) return null;
        var own = $"{request.Scheme}://{request.Host.Value}";
        return string.Equals(origin, own, StringComparison.OrdinalIgnoreCase) ? null : origin;
    }
}
