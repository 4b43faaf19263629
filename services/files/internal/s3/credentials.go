package s3

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// credentialsFor returns the static keys of cfg when both are set, else the AWS default
// credential chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the shared config and
// credentials files (AWS_PROFILE), web identity (IRSA: AWS_WEB_IDENTITY_TOKEN_FILE and
// AWS_ROLE_ARN), the container role (ECS, EKS Pod Identity) and the instance role (IMDS).
// The chain is resolved lazily, at the first request, and its credentials are cached and
// refreshed before they expire.
func credentialsFor(cfg Config) (aws.CredentialsProvider, error) {
	switch {
	case cfg.AccessKey != "" && cfg.SecretKey != "":
		return credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""), nil
	case cfg.AccessKey != "" || cfg.SecretKey != "":
		return nil, errors.New("s3: set both an access key and a secret key, or neither to use the AWS default credential chain")
	}
	// Loading reads environment variables and local files only; no request is made here.
	ac, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(cfg.Region))
	if err != nil {
		return nil, fmt.Errorf("s3: load the AWS default credential chain: %w", err)
	}
	if ac.Credentials == nil {
		return nil, errors.New("s3: the AWS default credential chain found no credentials provider")
	}
	return ac.Credentials, nil
}

// SSE values for Config.SSE.
const (
	SSES3  = "AES256"  // S3-managed keys
	SSEKMS = "aws:kms" // AWS KMS keys; Config.SSEKMSKeyID names the key (default: the account's S3 key)
)

// sseFor checks cfg's server-side encryption setting.
func sseFor(cfg Config) (types.ServerSideEncryption, *string, error) {
	switch cfg.SSE {
	case "":
		if cfg.SSEKMSKeyID != "" {
			return "", nil, errors.New("s3: a KMS key id needs SSE aws:kms")
		}
		return "", nil, nil
	case SSES3:
		if cfg.SSEKMSKeyID != "" {
			return "", nil, errors.New("s3: a KMS key id needs SSE aws:kms, not AES256")
		}
		return types.ServerSideEncryptionAes256, nil, nil
	case SSEKMS:
		if cfg.SSEKMSKeyID == "" {
			return types.ServerSideEncryptionAwsKms, nil, nil
		}
		return types.ServerSideEncryptionAwsKms, aws.String(cfg.SSEKMSKeyID), nil
	}
	return "", nil, fmt.Errorf("s3: server-side encryption %q is not %s or %s", cfg.SSE, SSES3, SSEKMS)
}
