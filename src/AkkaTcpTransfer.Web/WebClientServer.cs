using System.Net;
using Akka.Event;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
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
        // Nothing of Kestrel's may write to the console (the full-screen UI or the --json stream owns it): its warnings
        // go to the node's log.
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new AkkaLogProvider(Logging.GetLogger(node.System, "web")));
        // The web host must not take Ctrl+C and SIGTERM for itself: the node's shutdown ends the process.
        builder.Services.AddSingleton<IHostLifetime, NodeOwnedLifetime>();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            // The page sends no request bodies: anything beyond a small one is refused.
            k.Limits.MaxRequestBodySize = 16 * 1024;
            k.Listen(address, web.Port, listen =>
            {
                // WebSockets as HTTP/1.1 upgrades, the same over HTTPS as over HTTP.
                listen.Protocols = HttpProtocols.Http1;
                if (identity is not null) listen.UseHttps(identity.Certificate);
            });
        });
        var app = builder.Build();
        var loopbackOnly = IPAddress.IsLoopback(address);
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
                context.Response.StatusCode = StatusCodes.Status421MisdirectedRequest;
                await context.Response.WriteAsync("this server answers only to a loopback address (127.0.0.1, [::1], localhost)\n");
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
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                await context.Response.WriteAsync("the wire protocol over a WebSocket (docs/PROTOCOL.md, \"WebSocket\"); open / for the page\n");
                return;
            }
            // A browser names the page that opens the socket: only this server's own page may. (The list in
            // WebSocketOptions is fixed before the port is known; a client that is not a browser sends no Origin.)
            if (WebRequests.ForeignOrigin(context.Request) is { } origin)
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                await context.Response.WriteAsync($"a page from {origin} may not connect here\n");
                return;
            }
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var remote = new IPEndPoint(context.Connection.RemoteIpAddress ?? IPAddress.None, context.Connection.RemotePort);
            await node.ServeWebSocketAsync(socket, remote, context.RequestAborted);
        });
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files });
        app.UseStaticFiles(new StaticFileOptions { FileProvider = files });
        try
        {
            await app.StartAsync(ct);
        }
        catch (IOException e)
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
                var text = formatter(state, exception) + (exception is null ? "" : $": {exception.Message}");
                if (logLevel >= LogLevel.Error) log.Error("web: {0}", text);
                else log.Warning("web: {0}", text);
            }
        }
    }
}

/// <summary>The checks on requests, apart so that tests can name their cases.</summary>
internal static class WebRequests
{
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
