using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace HikShareGateway.Tests.Onvif.Simulator;

/// <summary>
/// A throw-away Linux network namespace with only <c>lo</c> up (and multicast routed to it), for peers that insist on fixed ports (80, 3702) or
/// multicast on every interface (onvif-util). Sockets are created inside it from a dedicated thread that joins it
/// with setns(2); nothing in it can reach any other network.
/// </summary>
public sealed class NetworkNamespace : IDisposable
{
    private const int CloneNewNet = 0x40000000;

    [DllImport("libc", SetLastError = true)]
    private static extern int setns(int fd, int nstype);

    private NetworkNamespace(string name) => Name = name;

    public string Name { get; }

    public static NetworkNamespace Create()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new InvalidOperationException("network namespaces need Linux");
        }
        var name = "hsgw-onvif-" + Guid.NewGuid().ToString("N")[..8];
        Run("ip", "netns", "add", name);
        var ns = new NetworkNamespace(name);
        try
        {
            Run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up");
            // Multicast (WS-Discovery's 239.255.255.250) needs a route; inside the namespace it can only be lo.
            Run("ip", "netns", "exec", name, "ip", "route", "add", "224.0.0.0/4", "dev", "lo");
        }
        catch
        {
            ns.Dispose();
            throw;
        }
        return ns;
    }

    /// <summary>Runs <paramref name="create"/> on a thread inside the namespace; the sockets it makes stay there.</summary>
    public T Inside<T>(Func<T> create)
    {
        T? result = default;
        Exception? error = null;
        var t = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle($"/var/run/netns/{Name}");
                if (setns((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                {
                    throw new InvalidOperationException($"setns into {Name} failed: errno {Marshal.GetLastPInvokeError()}");
                }
                result = create();
            }
            catch (Exception e)
            {
                error = e;
            }
        });
        t.Start();
        t.Join();
        if (error is not null)
        {
            throw new InvalidOperationException("creating sockets in the namespace failed: " + error.Message, error);
        }
        return result!;
    }

    public static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        Process p;
        try
        {
            p = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{file} is not installed ({e.Message}); install iproute2", e);
        }
        using (p)
        {
            var output = p.StandardOutput.ReadToEnd();
            var err = p.StandardError.ReadToEnd();
            if (!p.WaitForExit(10_000))
            {
                p.Kill(true);
                throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish");
            }
            if (p.ExitCode != 0)
            {
                throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {err.Trim()} (network namespaces need root / CAP_SYS_ADMIN)");
            }
            return output;
        }
    }

    public void Dispose()
    {
        try
        {
            Run("ip", "netns", "del", Name);
        }
        catch (InvalidOperationException)
        {
        }
    }
}
