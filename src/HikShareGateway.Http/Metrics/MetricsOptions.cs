using HikShareGateway.Core.Configuration;

namespace HikShareGateway.Http.Metrics;

/// <summary>Section <c>HttpApi</c>: what <c>/metrics</c> (on the public HTTP port, without authentication) reveals.</summary>
public sealed class MetricsOptions : IValidatableOptions
{
    public const string Section = "HttpApi";

    /// <summary>
    /// Label <c>hikshare_sessions</c> by <c>account</c> as well as by <c>action</c>. Default false: anyone who
    /// reaches <c>/metrics</c> would read which accounts watch what (issue 17). Turn it on only when the port is
    /// reachable from trusted networks alone.
    /// </summary>
    public bool MetricsPerAccount { get; set; }

    public void Validate(ICollection<string> errors)
    {
    }
}
